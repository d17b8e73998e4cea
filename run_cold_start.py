"""Cold-start analysis: test NDCG@10 of saved models, grouped by the test target's training popularity.

    python run_cold_start.py -d Scientific saved/SASRec-....pth saved/UniSRec-....pth \\
        --labels SASRec UniSRec --out results/Scientific-cold-start
    python run_cold_start.py -d Scientific CKPT --bins 0 1 3 10 50
    python run_cold_start.py -d Scientific --runs results/Scientific-SASRec.runs.csv \
        results/Scientific-pretrained.runs.csv --seed 2020   # the models a run_compare.py table saved

A checkpoint is any sequential model saved by run_finetune.py, run_baseline.py or run_compare.py
(UniSRec in any stage, SASRec, FDSAText, ...); its config, data set and model are rebuilt from it.
Popularity of an item: its interactions in the training split. Groups are given by their lower
bounds (--bins, default 0 1 5 10: groups 0, 1-4, 5-9, 10+). Writes OUT.md (NDCG@10 and Recall@10
per group and model, with this command) and OUT.png (bar chart of NDCG@10). RecBole settings can
be given as --key=value (e.g. --eval_batch_size=1024). --runs takes run_compare.py's OUT.runs.csv
files instead of (or besides) checkpoint paths: each model's checkpoint of --seed, labelled as there
(or by --labels, one per checkpoint path and run).
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.analysis.cold_start import DEFAULT_BINS, cold_start, write_report
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.compare import read_runs


def checkpoints_of_runs(paths: list[str], seed: int) -> tuple[list[str], list[str]]:
    """``(checkpoints, labels)`` of the runs with ``seed`` in run_compare.py's runs files."""
    checkpoints, labels = [], []
    for path in paths:
        runs = [(label, result) for label, result in read_runs(path) if result["seed"] == seed]
        if not runs:
            raise ValueError(f"{path}: no run with seed {seed}")
        for label, result in runs:
            if not result["checkpoint"]:
                raise ValueError(f"{path}: the run of {label} (seed {seed}) kept no checkpoint")
            checkpoints.append(result["checkpoint"])
            labels.append(label)
    return checkpoints, labels


def main(argv: list[str] | None = None) -> list:
    parser = script_parser(__doc__, data_root_default="the checkpoint's, else the shipped dataset/")
    parser.add_argument("checkpoints", nargs="*", help="saved model checkpoints (.pth)")
    parser.add_argument("--runs", nargs="+", default=[], help="run_compare.py OUT.runs.csv files: their checkpoints")
    parser.add_argument("--seed", type=int, default=2020, help="with --runs: the seed whose runs to analyse")
    parser.add_argument("-d", "--dataset", default=None, help="data set (default: each checkpoint's own)")
    parser.add_argument("--labels", nargs="+", default=None, help="one name per checkpoint for the table and chart")
    parser.add_argument("--bins", nargs="+", type=int, default=list(DEFAULT_BINS),
                        help="lower bounds of the popularity groups (default: 0 1 5 10)")
    parser.add_argument("-k", type=int, default=10, help="cut-off of NDCG and Recall (default: 10)")
    parser.add_argument("--out", default=None, help="output path without suffix (default: results/<dataset>-cold-start)")
    args, overrides = parser.parse_known_args(argv)
    command = "python run_cold_start.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    checkpoints, labels = list(args.checkpoints), args.labels
    if args.runs:
        run_checkpoints, run_labels = checkpoints_of_runs(args.runs, args.seed)
        checkpoints += run_checkpoints
        if labels is None or len(labels) != len(checkpoints):  # --labels may name all, or the paths only
            labels = (labels or [Path(path).stem for path in checkpoints[:len(args.checkpoints)]]) + run_labels
    if not checkpoints:
        parser.error("give checkpoints or --runs")
    started = time.perf_counter()
    results = cold_start(checkpoints, args.dataset, labels, args.bins, args.k, overrides=with_data_root(args.data_root, overrides))
    dataset = results[0].dataset
    caption = (f"{dataset}, test set (leave-one-out, full ranking over all items); users grouped by how often "
               f"their test item occurs in the training split; the *all* row equals RecBole's test evaluation of "
               f"the checkpoint. {time.perf_counter() - started:.0f} s.\n\n`{command}`")
    paths = write_report(args.out or f"results/{dataset}-cold-start", results, caption,
                         title=f"{dataset}: NDCG@{args.k} by the test item's training popularity")
    for result in results:
        print(f"{result.label}: NDCG@{args.k} " + ", ".join(f"{g.label} {g.ndcg:.4f} (n={g.users})" for g in result.groups)
              + f", all {result.overall.ndcg:.4f}")
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    run_script(main)
