"""run_compare's model specs and tables, with a stand-in runner (no training)."""
from __future__ import annotations

import csv
import statistics

import pytest

from recbole_unisrec.compare import (CSV_COLUMNS, MD_COLUMNS, RUN_COLUMNS, compare, merge_runs, overrides_for, parse_spec,
                                     summary_rows)


def fake_result(spec, seed):
    base = {"SASRec": 0.1, "UniSRec:inductive_ft": 0.2}[spec.label]
    return {
        "seed": seed, "best_valid_score": base, "checkpoint": f"/ckpt/{spec.model}-{seed}.pth",
        "test_result": {"recall@10": base + seed / 1000, "ndcg@10": base / 2, "recall@50": base * 3, "ndcg@50": base},
        "train_seconds": 10.0 + seed, "trainable_parameters": 1234567 if spec.model == "SASRec" else 89,
        "epochs": 20 + seed, "best_epoch": 9 + seed,
    }


def test_specs(tmp_path) -> None:
    assert parse_spec("SASRec") == parse_spec("SASRec")
    checkpoint = tmp_path / "run 1" / "pre.pth"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    spec = parse_spec(f"UniSRec@{checkpoint}:inductive_ft")
    assert (spec.model, spec.checkpoint, spec.stage) == ("UniSRec", str(checkpoint), "inductive_ft")
    assert spec.label == "UniSRec@pre.pth:inductive_ft"
    with pytest.raises(ValueError, match="not found"):
        parse_spec("UniSRec@missing.pth:inductive_ft")
    with pytest.raises(ValueError, match="unknown stage 'pretrain'"):
        parse_spec("UniSRec:pretrain")
    with pytest.raises(ValueError, match="unknown stage"):
        parse_spec("SASRec:inductive_ft")
    assert parse_spec("UniSRec:transductive_ft").stage == "transductive_ft"
    with pytest.raises(ValueError, match="only UniSRec and S3RecText"):
        parse_spec("SASRec@x.pth")
    with pytest.raises(ValueError, match="expected NAME"):
        parse_spec("UniSRec::x")


def test_length_bucketing_flag_applies_only_where_supported() -> None:
    flags = ["--length_bucketing=True", "--learning_rate=0.01"]
    assert overrides_for("SASRec", flags) == flags
    assert overrides_for("BERT4Rec", flags) == ["--learning_rate=0.01"]
    both = ["--packed_training=True", "--length_bucketing=True"]
    assert overrides_for("FDSAText", both) == both
    assert overrides_for("GRU4Rec", both) == ["--length_bucketing=True"]
    assert overrides_for("BERT4Rec", both) == []
    with pytest.raises(ValueError, match="--seeds"):
        overrides_for("SASRec", ["--seed=3"])


def test_two_models_two_seeds_tables(tmp_path) -> None:
    calls = []

    def runner(spec, dataset, seed, **kwargs):
        calls.append((spec.label, seed, kwargs["epochs"], tuple(kwargs["overrides"])))
        return fake_result(spec, seed)

    md, summary, runs = compare(["SASRec", "UniSRec:inductive_ft"], "Tiny", [1, 2], tmp_path / "out", epochs=3,
                                overrides=["--learning_rate=0.01"], command="python run_compare.py ...", runner=runner)
    assert [p.name for p in (md, summary, runs)] == ["out.md", "out.csv", "out.runs.csv"]
    assert calls == [("SASRec", 1, 3, ("--learning_rate=0.01",)), ("UniSRec:inductive_ft", 1, 3, ("--learning_rate=0.01",)),
                     ("SASRec", 2, 3, ("--learning_rate=0.01",)),
                     ("UniSRec:inductive_ft", 2, 3, ("--learning_rate=0.01",))]  # seed by seed
    table = [line for line in md.read_text().splitlines() if line.startswith("|")]
    assert table[0] == "| " + " | ".join(MD_COLUMNS) + " |"
    assert table[0] == ("| Model | Seeds | Recall@10 | NDCG@10 | Recall@50 | NDCG@50 | Training time (s) | Trainable parameters "
                        "| Epochs trained / tested, per seed |")
    assert len(table) == 4
    sasrec = [cell.strip() for cell in table[2].strip("|").split("|")]
    std = statistics.stdev([0.101, 0.102])
    assert sasrec == ["SASRec", "2", f"0.1015 ± {std:.4f}", "0.0500 ± 0.0000", "0.3000 ± 0.0000", "0.1000 ± 0.0000",
                      "11.5 ± 0.7", "1,234,567", "21/10, 22/11"]
    assert "`python run_compare.py ...`" in md.read_text()
    rows = list(csv.DictReader(summary.open()))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 2
    assert rows[1]["model"] == "UniSRec:inductive_ft" and rows[1]["seeds"] == "1 2"
    assert float(rows[1]["recall@10_mean"]) == pytest.approx(0.2015) and float(rows[1]["recall@10_std"]) == pytest.approx(std)
    assert rows[1]["trainable_parameters"] == "89"
    per_run = list(csv.DictReader(runs.open()))
    assert tuple(per_run[0]) == RUN_COLUMNS and len(per_run) == 4
    assert [(r["model"], r["seed"]) for r in per_run][1] == ("SASRec", "2")


def test_single_seed_has_no_std(tmp_path) -> None:
    md, summary, _ = compare(["SASRec"], "Tiny", [5], tmp_path / "one", runner=lambda spec, d, seed, **k: fake_result(spec, seed))
    row = [line for line in md.read_text().splitlines() if line.startswith("| SASRec")][0]
    assert "±" not in row and "| 0.1050 |" in row
    assert list(csv.DictReader(summary.open()))[0]["recall@10_std"] == ""


def test_tables_are_rewritten_after_every_run(tmp_path) -> None:
    seen = []

    def runner(spec, dataset, seed, **kwargs):
        if seed == 2:
            seen.append((tmp_path / "out.runs.csv").read_text().count("\n"))
            raise RuntimeError("killed")
        return fake_result(spec, seed)

    with pytest.raises(RuntimeError):
        compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", runner=runner)
    assert seen == [2]  # header + the finished run were on disk before the second run
    table = (tmp_path / "out.md").read_text()
    assert "| SASRec | 1 |" in table
    assert "over seeds 1 (of 1, 2 asked for);" in table


def test_caption_names_the_seeds_summarised(tmp_path) -> None:
    compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", runner=lambda spec, dataset, seed, **kwargs: fake_result(spec, seed),
            command="run_compare.py -d Tiny")
    caption = (tmp_path / "out.md").read_text().split("\n\n")[:2]
    assert caption == ["Tiny, test set (leave-one-out, full ranking); mean ± sample std over seeds 1, 2; "
                       "training time: wall seconds of training incl. validation.", "`run_compare.py -d Tiny`"]


def test_resume_keeps_finished_runs_and_runs_only_the_rest(tmp_path) -> None:
    calls = []

    def runner(spec, dataset, seed, **kwargs):
        calls.append((spec.label, seed))
        if seed == 2:
            raise RuntimeError("killed")
        return fake_result(spec, seed)

    with pytest.raises(RuntimeError):
        compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", runner=runner)
    first_runs = (tmp_path / "out.runs.csv").read_text()
    calls.clear()
    compare(["SASRec", "UniSRec:inductive_ft"], "Tiny", [1, 3], tmp_path / "out",
            runner=lambda spec, dataset, seed, **kwargs: calls.append((spec.label, seed)) or fake_result(spec, seed),
            resume=True)
    assert calls == [("UniSRec:inductive_ft", 1), ("SASRec", 3), ("UniSRec:inductive_ft", 3)]
    runs = list(csv.DictReader(open(tmp_path / "out.runs.csv")))
    assert [(r["model"], r["seed"]) for r in runs] == [("SASRec", "1"), ("SASRec", "3"),
                                                       ("UniSRec:inductive_ft", "1"), ("UniSRec:inductive_ft", "3")]
    assert (tmp_path / "out.runs.csv").read_text().splitlines()[1] == first_runs.splitlines()[1]
    assert [(r["epochs"], r["best_epoch"]) for r in runs] == [("21", "10"), ("23", "12"), ("21", "10"), ("23", "12")]
    assert "| SASRec | 2 | 0.1020 ± 0.0014 |" in (tmp_path / "out.md").read_text()


def test_a_comparison_stopped_part_way_has_the_same_seeds_for_every_model(tmp_path) -> None:
    def killed_at_the_third_run(spec, dataset, seed, **kwargs):
        if seed == 2:
            raise RuntimeError("killed")
        return fake_result(spec, seed)

    with pytest.raises(RuntimeError):
        compare(["SASRec", "UniSRec:inductive_ft"], "Tiny", [1, 2], tmp_path / "out", runner=killed_at_the_third_run)
    runs = [(r["model"], r["seed"]) for r in csv.DictReader(open(tmp_path / "out.runs.csv"))]
    assert runs == [("SASRec", "1"), ("UniSRec:inductive_ft", "1")]


def test_every_run_gets_a_fixed_checkpoint_name_and_the_resume_flag(tmp_path, monkeypatch) -> None:
    checkpoint = tmp_path / "pre 1.pth"
    checkpoint.write_bytes(b"")
    monkeypatch.setattr("recbole_unisrec.compare.check_model", lambda name: None)
    calls = []

    def runner(spec, dataset, seed, **kwargs):
        calls.append((kwargs["checkpoint_name"], kwargs["resume"]))
        return fake_result(parse_spec("SASRec"), seed)

    compare(["SASRec", f"UniSRec@{checkpoint}:inductive_ft"], "Tiny", [1, 2], tmp_path / "res" / "Tiny-es", runner=runner,
            resume=True)
    # the same names on every call, so that a stopped run's <name>-resume.pth is found again
    assert calls == [("Tiny-es-SASRec-seed1.pth", True), ("Tiny-es-UniSRec-pre-1.pth-inductive_ft-seed1.pth", True),
                     ("Tiny-es-SASRec-seed2.pth", True), ("Tiny-es-UniSRec-pre-1.pth-inductive_ft-seed2.pth", True)]


def test_resume_keeps_only_runs_of_the_same_data_set_and_settings(tmp_path) -> None:
    run = lambda spec, d, seed, **k: fake_result(spec, seed)  # noqa: E731
    compare(["SASRec"], "Tiny", [1], tmp_path / "out", epochs=300, overrides=["--learning_rate=0.01",
                                                                              "--show_progress=False"], runner=run)
    runs = list(csv.DictReader(open(tmp_path / "out.runs.csv")))
    assert (runs[0]["dataset"], runs[0]["settings"]) == ("Tiny", "--epochs=300 --learning_rate=0.01")

    def must_not_run(*args, **kwargs):
        raise AssertionError("must not run")

    with pytest.raises(ValueError, match=r"out.runs.csv: SASRec, seed 1 ran on Tiny, this comparison is on Other; "
                                         r"give another --out"):
        compare(["SASRec"], "Other", [1, 2], tmp_path / "out", epochs=300, overrides=["--learning_rate=0.01"],
                runner=must_not_run, resume=True)
    with pytest.raises(ValueError, match=r"SASRec, seed 1 ran with '--epochs=300 --learning_rate=0.01', this "
                                         r"comparison with '--epochs=10 --learning_rate=0.01'"):
        compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", epochs=10, overrides=["--learning_rate=0.01"],
                runner=must_not_run, resume=True)
    calls = []  # where files go or how a run reports may differ
    compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", epochs=300,
            overrides=["--learning_rate=0.01", "--checkpoint_dir=elsewhere"], resume=True,
            runner=lambda spec, d, seed, **k: calls.append(seed) or fake_result(spec, seed))
    assert calls == [2]
    compare(["SASRec"], "Other", [1], tmp_path / "other", runner=run)
    with pytest.raises(ValueError, match="the runs files hold runs on Other and Tiny; one table compares one data set"):
        merge_runs([tmp_path / "out.runs.csv", tmp_path / "other.runs.csv"], labels=["a", "b"])


def test_each_run_adds_its_curve_and_a_repeated_run_replaces_its_own(tmp_path) -> None:
    def runner(spec, dataset, seed, **kwargs):
        curve = [{"epoch": epoch, "train_loss": 1.0 / epoch + seed, "valid_score": None if epoch == 2 else 0.1 * epoch}
                 for epoch in range(1, 4 if spec.label == "SASRec" else 2)]
        return {**fake_result(spec, seed), "curve": curve}

    compare(["SASRec", "UniSRec:inductive_ft"], "Tiny", [1], tmp_path / "out", runner=runner)
    rows = (tmp_path / "out.curves.csv").read_text().splitlines()
    assert rows == ["model,seed,epoch,train_loss,valid_score", "SASRec,1,1,2,0.1", "SASRec,1,2,1.5,",
                    "SASRec,1,3,1.333333333,0.3", "UniSRec:inductive_ft,1,1,2,0.1"]
    compare(["SASRec"], "Tiny", [1, 2], tmp_path / "out", runner=runner)  # no --resume: SASRec seed 1 runs again
    rows = (tmp_path / "out.curves.csv").read_text().splitlines()
    assert [row.split(",")[:2] for row in rows[1:]] == [["UniSRec:inductive_ft", "1"], *[["SASRec", "1"]] * 3,
                                                        *[["SASRec", "2"]] * 3]


def test_a_foreign_curves_file_is_refused_before_any_run(tmp_path) -> None:
    (tmp_path / "out.curves.csv").write_text("epoch,loss\n1,2\n")
    with pytest.raises(ValueError, match="out.curves.csv: not a run_compare curves file"):
        compare(["SASRec"], "Tiny", [1], tmp_path / "out", runner=lambda *a, **k: pytest.fail("ran"))


def test_resume_rejects_a_foreign_runs_file(tmp_path) -> None:
    (tmp_path / "out.runs.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="out.runs.csv: not a run_compare runs file"):
        compare(["SASRec"], "Tiny", [1], tmp_path / "out", runner=lambda *a, **k: None, resume=True)


def test_bad_input_before_any_run(tmp_path) -> None:
    def runner(*args, **kwargs):
        raise AssertionError("must not run")

    with pytest.raises(ValueError, match="listed twice"):
        compare(["SASRec", "SASRec"], "Tiny", [1], tmp_path / "x", runner=runner)
    with pytest.raises(ValueError, match="--seeds"):
        compare(["SASRec"], "Tiny", [1], tmp_path / "x", overrides=["--seed=1"], runner=runner)
    with pytest.raises(ValueError, match="'SASrec' is not a sequential model"):
        compare(["SASRec", "SASrec"], "Tiny", [1], tmp_path / "x", runner=runner)
    with pytest.raises(ValueError, match="'BPR' is not a sequential model"):
        compare(["BPR"], "Tiny", [1], tmp_path / "x", runner=runner)


def test_training_time_is_summarised_per_device(tmp_path) -> None:
    """Seeds added later on another machine keep their own time; old runs files still read."""
    def runner(spec, dataset, seed, **kwargs):
        return {**fake_result(spec, seed), "device": "cpu" if seed == 1 else "NVIDIA H200"}

    md, summary, runs = compare(["SASRec"], "Tiny", [1, 2, 3], tmp_path / "out", runner=runner)
    row = [cell.strip() for cell in [l for l in md.read_text().splitlines() if l.startswith("| SASRec")][0].strip("|").split("|")]
    assert row[6] == f"11.0 on cpu; 12.5 ± {statistics.stdev([12.0, 13.0]):.1f} on NVIDIA H200"
    record = list(csv.DictReader(summary.open()))[0]
    assert (record["train_seconds_mean"], record["devices"]) == ("", "cpu / NVIDIA H200")
    assert [r["device"] for r in csv.DictReader(runs.open())] == ["cpu", "NVIDIA H200", "NVIDIA H200"]

    old = tmp_path / "old.runs.csv"
    lines = runs.read_text().splitlines()
    old.write_text("\n".join(line.rsplit(",", 5)[0] for line in lines[:2]) + "\n")  # no device, epoch or setup columns
    calls = []
    compare(["SASRec"], "Tiny", [1, 2], tmp_path / "old", resume=True,
            runner=lambda spec, d, seed, **k: calls.append(seed) or runner(spec, d, seed))
    assert calls == [2]
    assert "| 11.0 on unrecorded device; 12.0 on NVIDIA H200 | 1,234,567 | –, 22/11 |" in (tmp_path / "old.md").read_text()


def test_resume_never_drops_a_finished_run_from_the_runs_file(tmp_path) -> None:
    run = lambda spec, d, seed, **k: fake_result(spec, seed)  # noqa: E731
    compare(["SASRec", "UniSRec:inductive_ft"], "Tiny", [1, 2], tmp_path / "out", runner=run)
    before = sorted((tmp_path / "out.runs.csv").read_text().splitlines())

    def killed_on_a_new_seed(spec, dataset, seed, **kwargs):
        if seed == 3:
            on_disk = [(r["model"], r["seed"]) for r in csv.DictReader(open(tmp_path / "out.runs.csv"))]
            assert sorted(on_disk) == sorted([("UniSRec:inductive_ft", "1"), ("UniSRec:inductive_ft", "2"),
                                              ("SASRec", "1"), ("SASRec", "2")])
            raise RuntimeError("killed")
        return fake_result(spec, seed)

    with pytest.raises(RuntimeError):  # the UniSRec rows come first now: SASRec's must stay on disk
        compare(["UniSRec:inductive_ft", "SASRec"], "Tiny", [1, 2, 3], tmp_path / "out", runner=killed_on_a_new_seed, resume=True)
    assert sorted((tmp_path / "out.runs.csv").read_text().splitlines()) == before

    compare(["SASRec"], "Tiny", [1], tmp_path / "out", runner=run, resume=True)  # fewer seeds and models
    assert sorted((tmp_path / "out.runs.csv").read_text().splitlines()) == before
    assert [line for line in (tmp_path / "out.md").read_text().splitlines() if line.startswith("| SASRec")] == [
        "| SASRec | 1 | 0.1010 | 0.0500 | 0.3000 | 0.1000 | 11.0 | 1,234,567 | 21/10 |"]


def _two_comparisons(tmp_path):
    """Two runs files as two separate run_compare calls write them: the same label in both."""
    def runner(spec, dataset, seed, **kwargs):
        return fake_result(spec, seed)

    compare(["UniSRec:inductive_ft"], "Scientific", [1, 2], tmp_path / "frozen", runner=runner)
    compare(["SASRec", "UniSRec:inductive_ft"], "Scientific", [1, 2, 3], tmp_path / "full", runner=runner)
    return tmp_path / "frozen.runs.csv", tmp_path / "full.runs.csv"


def test_merge_runs_relabels_each_file_and_keeps_the_chosen_seeds(tmp_path) -> None:
    frozen, full = _two_comparisons(tmp_path)
    merged = merge_runs([frozen, full], labels=["frozen", "full"], seeds=[1, 2])
    assert [(label, result["seed"]) for label, result in merged] == [
        ("frozen", 1), ("frozen", 2), ("full, SASRec", 1), ("full, SASRec", 2),
        ("full, UniSRec:inductive_ft", 1), ("full, UniSRec:inductive_ft", 2)]
    rows = summary_rows(merged)
    assert [row["seeds"] for row in rows] == [[1, 2]] * 3
    assert rows[0]["recall@10"][0] == pytest.approx(statistics.fmean([0.201, 0.202]))


def test_merge_runs_refuses_a_run_counted_twice(tmp_path) -> None:
    frozen, full = _two_comparisons(tmp_path)
    with pytest.raises(ValueError, match=r"full.runs.csv: UniSRec:inductive_ft, seed 1 is also in .*frozen.runs.csv"):
        merge_runs([frozen, full])
    with pytest.raises(ValueError, match="1 labels for 2 runs files"):
        merge_runs([frozen, full], labels=["x"])
    with pytest.raises(ValueError, match="no runs in .* for seeds"):
        merge_runs([frozen], seeds=[7])


def test_merge_runs_keeps_only_the_models_asked_for(tmp_path) -> None:
    frozen, full = _two_comparisons(tmp_path)
    # full holds SASRec and UniSRec; with SASRec dropped, its label applies alone, as to a one-model file
    merged = merge_runs([frozen, full], labels=["frozen", "full"], models=["UniSRec:inductive_ft"])
    assert [(label, result["seed"]) for label, result in merged] == [
        ("frozen", 1), ("frozen", 2), ("full", 1), ("full", 2), ("full", 3)]
    assert len(merge_runs([frozen, full], labels=["frozen", "full"], models=["UniSRec:*"])) == 5
    assert len(merge_runs([frozen, full], labels=["frozen", "full"], models=["*SASRec", "UniSRec:inductive_ft"])) == 8
    with pytest.raises(ValueError, match=r"no model matches 'SASRec:\*' in .*frozen.runs.csv"):
        merge_runs([frozen], models=["UniSRec:inductive_ft", "SASRec:*"])


def test_table_command_prints_and_writes_one_table(tmp_path, capsys) -> None:
    from recbole_unisrec.__main__ import main

    frozen, full = _two_comparisons(tmp_path)
    out = tmp_path / "merged"
    assert main(["table", str(frozen), str(full), "--labels", "frozen", "-", "--seeds", "1", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    body = [line for line in printed.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    assert [line.split(" | ")[0] for line in body] == ["| frozen", "| SASRec", "| UniSRec:inductive_ft"]
    assert f"`python -m recbole_unisrec table {frozen} {full} --labels frozen - --seeds 1 2 --out {out}`" in printed
    assert out.with_name("merged.md").read_text() + "\n" == printed
    with open(out.with_name("merged.runs.csv")) as handle:
        assert len(list(csv.DictReader(handle))) == 6
    assert main(["table", str(full), "--models", "SASRec"]) == 0
    body = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    assert [line.split(" | ")[:2] for line in body] == [["| SASRec", "3"]]
    assert main(["table", str(frozen), str(tmp_path / "nothing.runs.csv")]) == 2
    assert "nothing.runs.csv" in capsys.readouterr().err
