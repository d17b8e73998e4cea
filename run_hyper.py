"""Hyperparameter search with RecBole's HyperTuning (hyperopt): UniSRec or any baseline.

    python run_hyper.py -m UniSRec -d Scientific --space props/hyper/UniSRec.hyper --algo bayes --max-evals 30
    python run_hyper.py -m UniSRec -d Office -p CKPT --space props/hyper/UniSRec-pretrained.hyper --algo random --max-evals 20
    python run_hyper.py -m SASRec -d Scientific --space props/hyper/SASRec.hyper --epochs 20 --length_bucketing=True
    OMP_NUM_THREADS=1 python run_hyper.py -m UniSRec -d Scientific --space props/hyper/example.hyper --epochs 1 \\
        --out results/hyper-example                   # 2 x 2 settings, 1 epoch each: a quick check on CPU

--algo exhaustive (default) tries every combination of a space of `choice` lines (--max-evals caps
it); random and bayes (TPE) draw --max-evals settings, seeded by --search-seed. Space files
(props/hyper/) have RecBole's syntax without comments: `NAME choice [a,b]`, `NAME uniform LOW,HIGH`,
`NAME quniform LOW,HIGH,Q`, `NAME loguniform LOG_LOW,LOG_HIGH` (bounds of the logarithm:
`loguniform -8.1,-5.8` is 3e-4 .. 3e-3). UniSRec.hyper searches the fine-tuning settings (lambda only
weights the pre-training loss, so it is not there). UniSRec gets props/finetune.yaml (and with -p
trains only the adaptor unless --no-freeze), baselines props/baseline.yaml, as run_finetune.py and
run_baseline.py do; every other RecBole setting can be given as --key=value. OUT.md (one row per
trial, best marked) and OUT.json (best setting and every trial) are rewritten after every trial;
--resume replays the trials OUT.json holds (same search, checked) and trains only the missing ones.
"""
from __future__ import annotations

import argparse
import shlex
import sys

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.hyper import hyper_search


def main(argv: list[str] | None = None) -> list:
    parser = script_parser(__doc__)
    parser.add_argument("-m", "--model", default="UniSRec", help="UniSRec, FDSAText, S3RecText or a RecBole sequential model")
    parser.add_argument("-d", "--dataset", default="Scientific", help="data set name (folder under --data-root)")
    parser.add_argument("--space", required=True, help="search space file, e.g. props/hyper/UniSRec.hyper")
    parser.add_argument("--algo", default="exhaustive", choices=["exhaustive", "random", "bayes"], help="search algorithm")
    parser.add_argument("--max-evals", type=int, default=None, help="number of trials (exhaustive: at most this many)")
    parser.add_argument("--early-stop", type=int, default=None, help="stop after this many trials without a better valid score")
    parser.add_argument("--search-seed", type=int, default=0, help="seed of the random and bayes samplers")
    parser.add_argument("--epochs", type=int, default=None, help="maximum training epochs of every trial")
    parser.add_argument("--out", default=None, help="output path without suffix (default: results/hyper-<model>-<dataset>)")
    parser.add_argument("-p", "--pretrained", default=None, help="UniSRec: pre-trained checkpoint to fine-tune")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, default=True,
                        help="with -p, keep the Transformer and position embedding frozen; --no-freeze trains everything")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files")
    parser.add_argument("--resume", action="store_true",
                        help="keep the trials already in OUT.json (same search) and run only the missing ones")
    args, overrides = parser.parse_known_args(argv)
    command = "python run_hyper.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    overrides = with_data_root(args.data_root, overrides)
    if args.epochs is not None:
        overrides = [*overrides, f"--epochs={args.epochs}"]
    paths = hyper_search(args.model, args.dataset, args.space, args.out or f"results/hyper-{args.model}-{args.dataset}",
                         algo=args.algo, max_evals=args.max_evals, early_stop=args.early_stop,
                         search_seed=args.search_seed, config_file_list=args.config_files, overrides=overrides,
                         pretrained=args.pretrained, freeze=args.freeze, command=command, resume=args.resume)
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    run_script(main)
