"""Cold-start analysis: exact popularity counts and groups, and per-user ranks whose mean NDCG is
RecBole's own test NDCG."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import run_cold_start
from analysis_fixtures import TINY, brute_force_counts, skewed_sequences
from recbole_unisrec.analysis.cold_start import (
    cold_start,
    group_labels,
    load_for_evaluation,
    ndcg_at,
    popularity_groups,
    rank_targets,
    recall_at,
    training_counts,
    write_report,
)
from recbole_unisrec.baselines import run_baseline
from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.config import Config
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.quick_start import run
from recbole_unisrec.registry import create_dataset

# --------------------------------------------------------------------------------------------
# Groups (pure)
# --------------------------------------------------------------------------------------------


def test_group_labels() -> None:
    assert group_labels() == ["0", "1-4", "5-9", "10+"]
    assert group_labels([0, 2, 3, 100]) == ["0-1", "2", "3-99", "100+"]
    for bad in ([], [1, 5], [0, 5, 5], [0, 7, 3]):
        with pytest.raises(ValueError):
            group_labels(bad)


def test_groups_exact_on_hand_made_counts() -> None:
    # item:    0  1  2  3  4  5  6  7   8   9
    counts = [0, 0, 1, 4, 5, 9, 10, 3, 11, 2]
    targets = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 6, 0]
    groups = popularity_groups(counts, targets)
    assert list(groups) == ["0", "1-4", "5-9", "10+"]
    assert groups["0"].tolist() == [0, 9, 11]  # items 1, 1 and 0: never in training
    assert groups["1-4"].tolist() == [1, 2, 6, 8]  # counts 1, 4, 3, 2
    assert groups["5-9"].tolist() == [3, 4]  # counts 5 and 9
    assert groups["10+"].tolist() == [5, 7, 10]  # counts 10, 11, 10
    # every row in exactly one group
    assert sorted(np.concatenate(list(groups.values())).tolist()) == list(range(len(targets)))
    # a mapping (missing items count 0) gives the same groups
    as_mapping = {i: c for i, c in enumerate(counts) if c}
    assert {k: v.tolist() for k, v in popularity_groups(as_mapping, targets).items()} == {
        k: v.tolist() for k, v in groups.items()}
    # other bins: every group, empty ones included
    other = popularity_groups(counts, targets, bins=[0, 5, 100])
    assert {k: v.tolist() for k, v in other.items()} == {"0-4": [0, 1, 2, 6, 8, 9, 11], "5-99": [3, 4, 5, 7, 10], "100+": []}


def test_groups_reject_targets_outside_the_counts() -> None:
    with pytest.raises(ValueError, match="target item ids"):
        popularity_groups([0, 1], [2])


# --------------------------------------------------------------------------------------------
# Counts from the RecBole train dataset
# --------------------------------------------------------------------------------------------


def build(config_dict: dict, model: str = "SASRec"):
    config = Config(model=model, dataset="Skewed", config_dict=config_dict)
    train, _, test = data_preparation(config, create_dataset(config))
    return train._dataset, test._dataset


def raw_of_token(root) -> dict[str, str]:
    lines = (root / "Skewed" / "Skewed.item2index").read_text().splitlines()
    return {index: raw for raw, index in (line.split("\t") for line in lines if line)}


def test_training_counts_exact(tiny_config, skewed_root) -> None:
    train, test = build(tiny_config)
    counts = training_counts(train)
    raw = raw_of_token(skewed_root)
    tokens = train.field2id_token[train.iid_field]
    expected = brute_force_counts(skewed_sequences())
    assert counts[0] == 0 and len(counts) == train.item_num
    assert {raw[tokens[i]]: int(c) for i, c in enumerate(counts) if i and c} == expected
    # every training interaction once: each row's target plus one first item per user with rows
    users_with_rows = len(set(train.inter_feat["user_id"].tolist()))
    assert counts.sum() == len(train.inter_feat) + users_with_rows
    # the fixture has test targets never seen in training, and several groups are populated
    groups = popularity_groups(counts, test.inter_feat["item_id"].numpy())
    assert len(groups["0"]) >= 8 and len(groups["1-4"]) and len(groups["10+"])
    # exactly: every user's last item is their test target, grouped by its brute-force count
    sizes = {label: 0 for label in groups}
    for _, items in skewed_sequences():
        count = expected.get(items[-1], 0)
        sizes["0" if count == 0 else "1-4" if count < 5 else "5-9" if count < 10 else "10+"] += 1
    assert {label: len(rows) for label, rows in groups.items()} == sizes


def test_truncated_histories_count_the_same(tiny_config) -> None:
    """MAX_ITEM_LIST_LENGTH cuts histories (keeping their last items); counts do not change."""
    full, _ = build(tiny_config)
    short, _ = build({**tiny_config, "MAX_ITEM_LIST_LENGTH": 2})
    assert np.array_equal(training_counts(full), training_counts(short))


# --------------------------------------------------------------------------------------------
# Ranks against RecBole's own evaluation
# --------------------------------------------------------------------------------------------

RUNS = {
    "SASRec-bucketed": ("SASRec", {"length_bucketing": True}),
    "FDSAText": ("FDSAText", {}),
    "UniSRec-inductive": ("UniSRec", {"train_stage": "inductive_ft"}),
    "UniSRec-transductive": ("UniSRec", {"train_stage": "transductive_ft"}),
}


@pytest.fixture(scope="module")
def trained(skewed_root, tmp_path_factory):
    """``trained(name)``: the result of one training run of ``RUNS[name]`` (run once per module)."""
    config = {**TINY, "data_path": str(skewed_root), "checkpoint_dir": str(tmp_path_factory.mktemp("saved"))}
    results: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in results:
            model, extra = RUNS[name]
            runner = run if model == "UniSRec" else run_baseline
            results[name] = runner(model, "Skewed", config_dict={**config, **extra})
        return results[name]

    return get


@pytest.mark.parametrize("name", list(RUNS))
def test_overall_mean_is_recbole_test_result(trained, name) -> None:
    result = trained(name)
    evaluation = load_for_evaluation(result["checkpoint"])
    assert not evaluation.model.training
    ranks = rank_targets(evaluation.model, evaluation.test_data, top=50)
    reported = result["test_result"]
    assert len(ranks.ranks) == len(evaluation.test_data._dataset) and ranks.ranks.min() >= 1
    for k in (10, 50):
        assert math.isclose(ndcg_at(ranks.ranks, k).mean(), reported[f"ndcg@{k}"], abs_tol=1e-9)
        assert math.isclose(recall_at(ranks.ranks, k).mean(), reported[f"recall@{k}"], abs_tol=1e-9)


def test_kept_top_items_agree_with_the_ranks(trained) -> None:
    """``keep_top``: each row's first ``top`` items, best first; a target ranked within them sits at its rank."""
    evaluation = load_for_evaluation(trained("UniSRec-inductive")["checkpoint"])
    ranked = rank_targets(evaluation.model, evaluation.test_data, top=5, keep_top=True)
    assert rank_targets(evaluation.model, evaluation.test_data, top=5).top_items is None
    assert ranked.top_items.shape == (len(ranked.ranks), 5) and (ranked.top_items > 0).all()
    inside = ranked.ranks <= 5
    assert inside.any() and (~inside).any()
    assert np.array_equal(ranked.top_items[inside, ranked.ranks[inside] - 1], ranked.targets[inside])
    assert not (ranked.top_items[~inside] == ranked.targets[~inside, None]).any()
    assert all(len(set(row)) == 5 for row in ranked.top_items.tolist())


def test_pretrain_stage_checkpoint_is_evaluated_text_only(trained, skewed_root, tmp_path) -> None:
    """A pre-training checkpoint has the inductive network: relabelled, it ranks identically."""
    result = trained("UniSRec-inductive")
    checkpoint = load_checkpoint(result["checkpoint"])
    # as run_pretrain.py stores it: props/pretrain.yaml's settings included (training split only)
    checkpoint["config"] = {**checkpoint["config"], "train_stage": "pretrain", "dataset": "SomeCorpus",
                            "benchmark_filename": ["train"], "train_batch_size": 2048, "pretrain_epochs": 3}
    relabelled = tmp_path / "pretrained.pth"
    torch.save(checkpoint, relabelled)
    reference = load_for_evaluation(result["checkpoint"])
    zero_shot = load_for_evaluation(relabelled, dataset="Skewed", data_root=skewed_root)
    assert zero_shot.config["train_stage"] == "inductive_ft"
    first = rank_targets(reference.model, reference.test_data, 50)
    second = rank_targets(zero_shot.model, zero_shot.test_data, 50)
    assert np.array_equal(first.ranks, second.ranks) and np.array_equal(first.targets, second.targets)


@pytest.mark.parametrize("name", ["SASRec-bucketed", "UniSRec-inductive"])
def test_evaluate_command_gives_recbole_test_and_valid_results(trained, name, capsys) -> None:
    import json

    from recbole_unisrec.__main__ import main

    result = trained(name)
    for split, reported in (("test", result["test_result"]), ("valid", result["best_valid_result"])):
        assert main(["evaluate", "-p", result["checkpoint"], "--split", split, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert (printed["split"], printed["dataset"], printed["zero_shot"]) == (split, "Skewed", False)
        assert printed["metrics"].keys() == reported.keys()
        for key, value in reported.items():
            assert math.isclose(printed["metrics"][key], value, abs_tol=1e-9), (split, key)
    assert main(["evaluate", "-p", result["checkpoint"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("on Skewed, test split (") and lines[2].split() == ["metric", "@10", "@50"]
    assert [line.split()[0] for line in lines[3:]] == ["Recall", "NDCG"]
    assert float(lines[4].split()[1]) == round(result["test_result"]["ndcg@10"], 4)


def test_evaluate_command_cutoffs_are_recboles(trained, capsys) -> None:
    """``--topk``: the metrics RecBole's own evaluator gives with ``topk`` set to those cut-offs."""
    import json

    from recbole.trainer import Trainer

    from recbole_unisrec.__main__ import main

    result = trained("UniSRec-inductive")
    assert main(["evaluate", "-p", result["checkpoint"], "--topk", "20", "1", "5", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["metrics"]
    evaluation = load_for_evaluation(result["checkpoint"], overrides=["--topk=[1,5,20]"])
    reported = Trainer(evaluation.config, evaluation.model).evaluate(evaluation.test_data, load_best_model=False)
    assert printed.keys() == reported.keys() == {f"{name}@{k}" for name in ("recall", "ndcg") for k in (1, 5, 20)}
    for key, value in reported.items():
        assert math.isclose(printed[key], value, abs_tol=1e-9), key
    assert printed["recall@1"] < printed["recall@5"] < printed["recall@20"]
    assert main(["evaluate", "-p", result["checkpoint"], "--topk", "5", "20"]) == 0
    assert capsys.readouterr().out.splitlines()[2].split() == ["metric", "@5", "@20"]

    items = evaluation.train_dataset.item_num - 1
    for cutoffs, message in ((["0", "10"], "topk: cut-offs must be positive, got 0, 10"),
                             (["10", str(items + 1)], f"topk: cut-off {items + 1} is larger than the {items} items of Skewed; give cut-offs of at most {items}")):
        assert main(["evaluate", "-p", result["checkpoint"], "--topk", *cutoffs]) == 2
        assert capsys.readouterr().err.strip() == f"error: {message}"


def test_evaluate_command_is_zero_shot_for_a_pretrained_checkpoint(trained, skewed_root, tmp_path, capsys) -> None:
    from recbole_unisrec.__main__ import main

    result = trained("UniSRec-inductive")
    checkpoint = load_checkpoint(result["checkpoint"])
    checkpoint["config"] = {**checkpoint["config"], "train_stage": "pretrain", "dataset": "SomeCorpus",
                            "benchmark_filename": ["train"]}
    torch.save(checkpoint, tmp_path / "pretrained.pth")
    assert main(["evaluate", "-p", str(tmp_path / "pretrained.pth"), "-d", "Skewed", "--data-root", str(skewed_root)]) == 0
    out = capsys.readouterr().out
    assert "zero-shot (no training on it)" in out and "UniSRec (pretrain)" in out
    assert main(["evaluate", "-p", str(tmp_path / "missing.pth"), "-d", "Skewed"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.pth'}: checkpoint file not found"


def test_id_models_refuse_another_dataset(trained) -> None:
    result = trained("SASRec-bucketed")
    with pytest.raises(CheckpointError, match="learned item IDs of Skewed"):
        load_for_evaluation(result["checkpoint"], dataset="Office")


# --------------------------------------------------------------------------------------------
# Report files
# --------------------------------------------------------------------------------------------


def test_script_writes_markdown_and_png(trained, tmp_path) -> None:
    first, second = trained("SASRec-bucketed"), trained("UniSRec-transductive")
    out = tmp_path / "results" / "Skewed-cold-start"
    paths = run_cold_start.main(["-d", "Skewed", first["checkpoint"], second["checkpoint"],
                                 "--labels", "SASRec", "UniSRec-T", "--out", str(out)])
    markdown, png = out.with_suffix(".md"), out.with_suffix(".png")
    assert paths == [markdown, png]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text()
    assert "`python run_cold_start.py -d Skewed" in text and "| Training interactions | Test users | SASRec | UniSRec-T |" in text
    assert f"{first['test_result']['ndcg@10']:.4f}" in text and f"{second['test_result']['ndcg@10']:.4f}" in text
    for label in ("| 0 |", "| 1-4 |", "| 5-9 |", "| 10+ |", "| all |"):
        assert label in text
    assert not list(out.parent.glob(".*.tmp"))  # nothing left behind by the atomic writes


def test_script_takes_the_checkpoints_of_run_compare_runs_files(trained, tmp_path) -> None:
    from recbole_unisrec.compare import write_tables

    first, second = trained("SASRec-bucketed"), trained("UniSRec-inductive")
    other_seed = {**second, "seed": second["seed"] + 1, "checkpoint": "missing.pth"}
    write_tables(tmp_path / "table", [("SASRec", first), ("UniSRec:inductive_ft", second),
                                      ("UniSRec:inductive_ft", other_seed)])
    out = tmp_path / "from-runs"
    run_cold_start.main(["-d", "Skewed", "--runs", str(tmp_path / "table.runs.csv"), "--seed", str(first["seed"]),
                         "--out", str(out)])
    text = out.with_suffix(".md").read_text()
    assert "| Training interactions | Test users | SASRec | UniSRec:inductive_ft |" in text
    assert f"{second['test_result']['ndcg@10']:.4f}" in text
    with pytest.raises(ValueError, match=r"table.runs.csv: no run with seed 1"):
        run_cold_start.main(["--runs", str(tmp_path / "table.runs.csv"), "--seed", "1"])


def test_write_report_is_atomic(trained, tmp_path, monkeypatch) -> None:
    """A failure while drawing leaves neither a partial PNG nor a temporary file."""
    from recbole_unisrec.analysis import figures

    result = trained("SASRec-bucketed")
    results = cold_start([result["checkpoint"]])
    out = tmp_path / "report"

    def broken(figure, handle, **kwargs):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(figures.Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        write_report(out, results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
