"""Fine-tune UniSRec on one data set, or train it from scratch.

    python run_finetune.py -d Scientific                         # from scratch, inductive
    python run_finetune.py -d Scientific -p saved/UniSRec-pretrained.pth --train_stage=transductive_ft
    python run_finetune.py -d Office -p CKPT --no-freeze --learning_rate=0.0003

Every RecBole setting can be given as --key=value.
"""
from __future__ import annotations

import argparse

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.config import PROPS
from recbole_unisrec.quick_start import run


def main(argv: list[str] | None = None) -> dict:
    parser = script_parser(__doc__)
    parser.add_argument("-d", "--dataset", default="Scientific", help="data set name (folder under --data-root)")
    parser.add_argument("-p", "--pretrained", default=None, help="pre-trained checkpoint to start from")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, default=True,
                        help="with -p, keep the Transformer and position embedding frozen; --no-freeze trains everything")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files")
    args, overrides = parser.parse_known_args(argv)
    config_files = [str(PROPS / "finetune.yaml"), *(args.config_files or [])]
    return run("UniSRec", args.dataset, config_file_list=config_files, overrides=with_data_root(args.data_root, overrides),
               pretrained=args.pretrained, freeze=args.freeze)


if __name__ == "__main__":
    run_script(main)
