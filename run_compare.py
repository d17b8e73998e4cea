"""Run a list of models on one data set (optionally several seeds) and write result tables.

    python run_compare.py -d Scientific -m SASRec FDSAText UniSRec:inductive_ft UniSRec:transductive_ft \\
        --seeds 2020 2021 --epochs 50 --out results/Scientific --length_bucketing=True
    python run_compare.py -d Office -m UniSRec@saved/pretrained.pth:inductive_ft UniSRec:inductive_ft

A model is NAME, NAME:STAGE (e.g. UniSRec:transductive_ft) or NAME@CHECKPOINT[:STAGE] (UniSRec
fine-tuned from a pre-trained checkpoint; S3RecText fine-tuned from its pre-training checkpoint).
Writes OUT.md (Markdown: Recall@10, NDCG@10, Recall@50, NDCG@50, training time, trainable
parameters; mean ± std over seeds), OUT.csv and OUT.runs.csv (one row per run), rewritten after
every run; --resume keeps the runs already in OUT.runs.csv and runs only the missing ones (a
run stopped part-way continues after its last validated epoch).
Baselines get props/baseline.yaml (width 300); every RecBole setting can be given as
--key=value and applies to every model (--length_bucketing=True only to models that support it).
"""
from __future__ import annotations

import argparse
import shlex
import sys

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.compare import compare


def main(argv: list[str] | None = None) -> list:
    parser = script_parser(__doc__)
    parser.add_argument("-d", "--dataset", default="Scientific", help="data set name (folder under --data-root)")
    parser.add_argument("-m", "--models", nargs="+", required=True, help="models: NAME, NAME:STAGE or NAME@CKPT[:STAGE]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020], help="one run per seed (default: 2020)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum training epochs of every run")
    parser.add_argument("--out", default=None, help="output path without suffix (default: results/<dataset>-compare)")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, default=True,
                        help="UniSRec@CKPT: keep the Transformer and position embedding frozen; --no-freeze trains everything")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in OUT.runs.csv (same model and seed), run only the rest, "
                             "continuing a run stopped part-way after its last validation")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files for every model")
    args, overrides = parser.parse_known_args(argv)
    command = "python run_compare.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    paths = compare(args.models, args.dataset, args.seeds, args.out or f"results/{args.dataset}-compare",
                    epochs=args.epochs, config_file_list=args.config_files, overrides=with_data_root(args.data_root, overrides),
                    freeze=args.freeze, command=command, resume=args.resume)
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    run_script(main)
