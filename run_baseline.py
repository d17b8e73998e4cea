"""Train and test a baseline on UniSRec's splits: any RecBole sequential model, or a text baseline.

    python run_baseline.py -m SASRec -d Scientific
    python run_baseline.py -m GRU4Rec -d Office --length_bucketing=True
    python run_baseline.py -m FDSAText -d Scientific              # FDSA with the item text vectors
    python run_baseline.py -m S3RecText -d Scientific --pretrain_epochs=100   # pre-train, then fine-tune
    python run_baseline.py -m S3RecText -d Scientific --train_stage=finetune --pre_model_path=CKPT

Same atomic files, split and evaluation as UniSRec (props/data.yaml); width 300 for every model
(props/baseline.yaml); every RecBole setting can be given as --key=value.
"""
from __future__ import annotations

import json

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.baselines import run_baseline
from recbole_unisrec.cli import run_script, script_parser, with_data_root


def main(argv: list[str] | None = None) -> dict:
    parser = script_parser(__doc__)
    parser.add_argument("-m", "--model", default="SASRec", help="RecBole sequential model, FDSAText or S3RecText")
    parser.add_argument("-d", "--dataset", default="Scientific", help="data set name (folder under --data-root)")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files")
    args, overrides = parser.parse_known_args(argv)
    result = run_baseline(args.model, args.dataset, config_file_list=args.config_files,
                          overrides=with_data_root(args.data_root, overrides))
    print(json.dumps({key: result[key] for key in ("model", "dataset", "train_stage", "seed", "test_result",
                                                    "train_seconds", "trainable_parameters", "checkpoint")}, indent=1))
    return result


if __name__ == "__main__":
    run_script(main)
