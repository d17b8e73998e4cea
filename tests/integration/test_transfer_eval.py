"""Transfer watched while pre-training: zero-shot validation metrics per epoch and step, a CSV that
survives a resume, and the best-transfer checkpoint; the zero-shot numbers are RecBole's own."""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "pretrain"))
from pretrain_fixtures import TINY_PRETRAIN, build, encoded_corpus  # noqa: E402

import run_pretrain  # noqa: E402
from recbole_unisrec.config import Config  # noqa: E402
from recbole_unisrec.data.preparation import data_preparation  # noqa: E402
from recbole_unisrec.evaluation import evaluate_zero_shot, zero_shot_target  # noqa: E402
from recbole_unisrec.registry import create_dataset, get_model  # noqa: E402

MODEL_SIZES = {key: TINY_PRETRAIN[key] for key in ("hidden_size", "inner_size", "n_layers", "n_heads", "n_exps",
                                                   "MAX_ITEM_LIST_LENGTH", "seed", "use_gpu")}


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return encoded_corpus(tmp_path_factory, "transfer")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli(root: Path, saved: Path, **settings) -> list[str]:
    values = {**TINY_PRETRAIN, "data_path": str(root), "checkpoint_dir": str(saved), **settings}
    return ["-d", "FT", *(f"--{key}={value}" for key, value in values.items())]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_zero_shot_metrics_equal_recbole_evaluating_a_text_only_model(corpus_root) -> None:
    config, _, loader, model = build(corpus_root)
    model.pretrain_loss(next(iter(loader))).backward()  # any weights; then evaluated as they are
    target = zero_shot_target("Fruit", "valid", config, corpus_root)
    ours = evaluate_zero_shot(model, target, ks=(1, 3))  # Fruit has 7 items
    assert model.training and model.train_stage == "pretrain"  # left as it was

    from recbole.trainer import Trainer

    fruit = Config(model="UniSRec", dataset="Fruit",
                   config_dict={**MODEL_SIZES, "data_path": str(corpus_root), "train_stage": "inductive_ft", "topk": [1, 3]})
    data = create_dataset(fruit)
    _, valid_data, _ = data_preparation(fruit, data)
    reference = get_model("UniSRec")(fruit, valid_data._dataset)
    reference.load_state_dict(model.state_dict())
    theirs = Trainer(fruit, reference).evaluate(valid_data, load_best_model=False)
    assert target.users == len(valid_data._dataset) == 30
    assert 0 < ours["recall@3"] < 1  # neither trivially right nor wrong
    for key in ("recall@1", "ndcg@1", "recall@3", "ndcg@3"):
        assert math.isclose(ours[key], float(theirs[key]), abs_tol=1e-4), key


def test_transfer_csv_and_best_checkpoint(corpus_root, tmp_path) -> None:
    saved = tmp_path / "saved"
    settings = {"pretrain_epochs": 2, "transfer_eval": "Fruit,Tools", "transfer_eval_step": 3}
    result = run_pretrain.main(cli(corpus_root, saved, **settings))
    rows = read_rows(saved / "UniSRec-FT-transfer.csv")
    steps_per_epoch = result["epoch_losses"][0]["steps"]
    mid_epoch = [step for step in range(1, 2 * steps_per_epoch + 1) if step % 3 == 0 and step % steps_per_epoch]
    assert [int(row["step"]) for row in rows] == sorted([0] + mid_epoch + [steps_per_epoch, 2 * steps_per_epoch])
    assert [float(row["epoch"]) for row in rows if float(row["epoch"]).is_integer()] == [0.0, 1.0, 2.0]
    assert rows[0]["loss"] == "nan"  # the untrained model, before the first step: the reference
    assert {"Fruit_ndcg@10", "Tools_recall@50", "mean_ndcg@10", "loss", "eval_seconds"} <= set(rows[0])
    for row in rows:
        assert math.isclose(float(row["mean_ndcg@10"]), (float(row["Fruit_ndcg@10"]) + float(row["Tools_ndcg@10"])) / 2,
                            rel_tol=1e-4)
    best = torch.load(saved / "UniSRec-FT-best-transfer.pth", weights_only=True)
    best_row = max(rows[1:], key=lambda row: float(row["mean_ndcg@10"]))  # never the untrained reference
    assert best["best_transfer"]["step"] == int(best_row["step"]) == best["cur_step"]
    assert math.isclose(best["best_transfer"]["mean_ndcg@10"], float(best_row["mean_ndcg@10"]), rel_tol=1e-5)


def test_transfer_log_survives_a_resume(corpus_root, tmp_path) -> None:
    settings = {"transfer_eval": "Fruit", "transfer_eval_step": 4}
    run_pretrain.main(cli(corpus_root, tmp_path / "whole", pretrain_epochs=2, **settings))
    first = run_pretrain.main(cli(corpus_root, tmp_path / "parts", pretrain_epochs=1, **settings))
    run_pretrain.main(["--resume", first["last_checkpoint"], "--pretrain_epochs=2"])

    def without_timing(path: Path) -> list[dict[str, str]]:
        return [{key: value for key, value in row.items() if key != "eval_seconds"} for row in read_rows(path)]

    whole = without_timing(tmp_path / "whole" / "UniSRec-FT-transfer.csv")
    assert len(whole) >= 3 and without_timing(tmp_path / "parts" / "UniSRec-FT-transfer.csv") == whole


def test_unknown_transfer_data_set_is_a_one_line_error(corpus_root, tmp_path) -> None:
    with pytest.raises(ValueError, match="transfer_eval: no data set 'Nowhere'.*--transfer_eval="):
        run_pretrain.main(cli(corpus_root, tmp_path / "saved", pretrain_epochs=1, transfer_eval="Nowhere"))
