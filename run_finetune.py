"""Fine-tune UniSRec on one data set, or train it from scratch.

    python run_finetune.py -d Scientific                         # from scratch, inductive
    python run_finetune.py -d Scientific -p saved/UniSRec-pretrained.pth --train_stage=transductive_ft
    python run_finetune.py -d Office -p CKPT --no-freeze --learning_rate=0.0003
    python run_finetune.py --resume saved/<checkpoint>-resume.pth   # continue a stopped run after its last validation

Every RecBole setting can be given as --key=value.
"""
from __future__ import annotations

import argparse

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.config import PROPS, merge_overrides
from recbole_unisrec.quick_start import run
from recbole_unisrec.resume import load_resume_state


def main(argv: list[str] | None = None) -> dict:
    parser = script_parser(__doc__)
    parser.add_argument("-d", "--dataset", default=None, help="data set name (folder under --data-root; default Scientific)")
    parser.add_argument("-p", "--pretrained", default=None, help="pre-trained checkpoint to start from")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, default=True,
                        help="with -p, keep the Transformer and position embedding frozen; --no-freeze trains everything")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files")
    parser.add_argument("--resume", default=None, metavar="STATE",
                        help="continue the run that wrote this <checkpoint>-resume.pth, with its own settings")
    args, overrides = parser.parse_known_args(argv)
    if args.resume:
        return resume(args.resume, args, with_data_root(args.data_root, overrides))
    config_files = [str(PROPS / "finetune.yaml"), *(args.config_files or [])]
    return run("UniSRec", args.dataset or "Scientific", config_file_list=config_files, overrides=with_data_root(args.data_root, overrides),
               pretrained=args.pretrained, freeze=args.freeze)


def resume(path: str, args: argparse.Namespace, overrides: list[str]) -> dict:
    """The stopped run of ``path`` again, from its state (``--key=value`` settings are added to its
    own: those that change training are refused when the state is read)."""
    given = [flag for flag, value in (("-d", args.dataset), ("-p", args.pretrained), ("--config_files", args.config_files))
             if value is not None]
    if given:
        raise ValueError(f"--resume {path} continues a run with its own {', '.join(given)}; leave them out")
    run_args = load_resume_state(path)["run_args"]
    return run(run_args["model"], run_args["dataset"], config_file_list=run_args["config_file_list"],
               config_dict=run_args["config_dict"], overrides=merge_overrides(run_args["overrides"], overrides),
               pretrained=run_args["pretrained"], freeze=run_args["freeze"],
               checkpoint_name=run_args["checkpoint_name"], resume=True)


if __name__ == "__main__":
    run_script(main)
