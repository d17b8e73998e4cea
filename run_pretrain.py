"""Pre-train UniSRec on several domains at once (both contrastive tasks of the paper).

    python run_pretrain.py                                   # default corpus: the shipped pre-training domains
    python run_pretrain.py --domains Beauty,Toys,Games       # corpus BTG (built under dataset/ if missing)
    python run_pretrain.py -d BTG --pretrain_epochs=20 --train_batch_size=1024
    python run_pretrain.py --resume saved/UniSRec-BTGYMS-last.pth    # continue after a crash
    torchrun --nproc_per_node 4 run_pretrain.py              # DistributedDataParallel (NCCL on GPUs, gloo on CPU)

The default corpus is BTGYMS (Beauty, Toys, Games, Yelp, MicroLens, Steam). Settings come from
props/UniSRec.yaml and props/pretrain.yaml; every RecBole setting can be given as --key=value.
Checkpoints go to checkpoint_dir (saved/): UniSRec-<corpus>-last.pth (to resume from) and
UniSRec-<corpus>-<epoch>.pth; fine-tune one with run_finetune.py -p. Under torchrun,
train_batch_size is per process (the in-batch negatives come from all processes' batches).

On a CPU that other jobs share, set OMP_NUM_THREADS=1: on the project's 2-core machine with two
other busy processes a step of the default corpus took 1.3 s with one thread and 4.5 s with two
(482 steps of 2,048 sequences per epoch: about 10 minutes an epoch with one thread).
"""
from __future__ import annotations

import argparse

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec import distributed
from recbole_unisrec.cli import run_script, script_parser, with_data_root
from recbole_unisrec.quick_start import pretrain


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = script_parser(__doc__)
    parser.add_argument("-d", "--dataset", default=None, help="corpus (or data set) name under --data-root")
    parser.add_argument("--domains", default=None,
                        help="comma-separated data sets to pre-train on; their corpus is built if missing")
    parser.add_argument("--resume", default=None, metavar="CKPT", help="continue from a pre-training checkpoint")
    parser.add_argument("--config_files", nargs="*", default=None, help="extra RecBole property files")
    args, overrides = parser.parse_known_args(argv)
    if args.dataset and args.domains:
        parser.error("give either -d/--dataset or --domains")
    return args, overrides


def main(argv: list[str] | None = None) -> dict:
    args, overrides = parse_args(argv)
    domains = [name.strip() for name in args.domains.split(",") if name.strip()] if args.domains else None
    try:
        return pretrain(dataset=args.dataset, domains=domains, config_file_list=args.config_files,
                        overrides=with_data_root(args.data_root, overrides), resume=args.resume)
    finally:
        distributed.destroy()


if __name__ == "__main__":
    run_script(main)
