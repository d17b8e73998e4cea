"""run_compare end to end: two real models (a RecBole baseline and UniSRec) × two seeds on a tiny
data set, settings passed through as --key=value, the exact table structure on disk."""
from __future__ import annotations

import csv
import re
import statistics

from recbole_unisrec.data.convert.common import SequenceData, write_dataset

import run_compare

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange", "grey", "pink", "brown", "silver"]
THINGS = ["apple", "hammer", "novel", "shoe", "lamp", "kettle"]


def write_tiny(root):
    """72 items (Recall@50 needs more than 50), 48 users walking 12 chains of item texts."""
    sequences = [(f"u{u}", [f"c{u % 12}i{(u // 12 + step) % 6}" for step in range(7 - u % 4)]) for u in range(48)]
    texts = {f"c{c}i{i}": f"{colour} {thing}" for c, colour in enumerate(COLOURS) for i, thing in enumerate(THINGS)}
    write_dataset(SequenceData("Tiny", sequences, texts), root)


CELL = re.compile(r"\d+\.\d{4} ± \d+\.\d{4}")


def test_two_models_two_seeds(tmp_path) -> None:
    write_tiny(tmp_path / "data")
    out = tmp_path / "results" / "Tiny"
    argv = ["-d", "Tiny", "-m", "SASRec", "UniSRec:inductive_ft", "--seeds", "1", "2", "--epochs", "1", "--out", str(out),
            f"--data_path={tmp_path / 'data'}", f"--checkpoint_dir={tmp_path / 'saved'}", "--hidden_size=16",
            "--inner_size=16", "--n_layers=1", "--train_batch_size=64", "--eval_batch_size=256",
            "--show_progress=False", "--state=WARNING", "--length_bucketing=True"]
    md, summary, runs = run_compare.main(argv)

    lines = md.read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == ("| Model | Seeds | Recall@10 | NDCG@10 | Recall@50 | NDCG@50 | Training time (s) | Trainable parameters "
                        "| Epochs trained / tested, per seed |")
    assert table[1] == "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    assert len(table) == 4
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in table[2:]]
    assert [row[:2] for row in cells] == [["SASRec", "2"], ["UniSRec:inductive_ft", "2"]]
    for row in cells:
        assert all(CELL.fullmatch(cell) for cell in row[2:6]), row
        assert re.fullmatch(r"\d+\.\d ± \d+\.\d", row[6]) and re.fullmatch(r"[\d,]+", row[7])
        assert row[8] == "1/1, 1/1"
    assert lines[0].startswith("Tiny, test set") and "python run_compare.py -d Tiny" in md.read_text()

    per_run = list(csv.DictReader(runs.open()))
    assert [(r["model"], r["seed"]) for r in per_run] == [("SASRec", "1"), ("SASRec", "2"),
                                                          ("UniSRec:inductive_ft", "1"), ("UniSRec:inductive_ft", "2")]
    assert [(r["epochs"], r["best_epoch"]) for r in per_run] == [("1", "1")] * 4  # --epochs 1: one epoch, tested
    rows = list(csv.DictReader(summary.open()))
    assert [r["model"] for r in rows] == ["SASRec", "UniSRec:inductive_ft"]
    for row, cell_row in zip(rows, cells):
        values = [float(r["ndcg@10"]) for r in per_run if r["model"] == row["model"]]
        assert float(row["ndcg@10_mean"]) == statistics.fmean(values)
        assert abs(float(row["ndcg@10_std"]) - statistics.stdev(values)) < 1e-9
        assert cell_row[3] == f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"
        assert int(row["trainable_parameters"]) == int(cell_row[7].replace(",", "")) > 0
    # the settings reached the models: width 16, not the 300 of props/baseline.yaml / UniSRec.yaml
    assert int(rows[0]["trainable_parameters"]) < 10_000

