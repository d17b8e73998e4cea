"""Zero-shot ranking along the straight line from the untrained network to a pre-trained one.

Pre-training here starts from UniSRec's seed-2020 initialisation (alpha 0 reproduces the step-0
row of the transfer CSVs that have one) and, zero-shot, only falls below it. This asks whether the pre-trained
weights carry anything that transfers once most of the drift away from the initial network's
text likeness is taken back: weights ``init + alpha * (pretrained - init)`` for each alpha,
ranked zero-shot on each data set's split (full ranking, as ``python -m recbole_unisrec evaluate``).
alpha 0 is the untrained network, alpha 1 the checkpoint; a value above both ends means the
pre-trained direction holds transferable order that the full step overshoots.

    OMP_NUM_THREADS=1 python bench/interpolate_from_init.py saved/ckpt/BTGYMS-logq-b2048-e1.pth
    OMP_NUM_THREADS=1 python bench/interpolate_from_init.py CKPT --alphas 0 0.5 1 --data Office --split test
    OMP_NUM_THREADS=1 python bench/interpolate_from_init.py CKPT --write 0.5 saved/ckpt/NAME.pth   # a checkpoint to fine-tune
"""
import argparse

import torch

import recbole_unisrec  # noqa: F401
from recbole_unisrec.checkpoint import RESUME_STATE, load_checkpoint
from recbole_unisrec.evaluation import evaluate_zero_shot
from recbole_unisrec.fileio import save_checkpoint

from zero_shot_reference import INIT_SEED, untrained_network  # a sibling script: bench/ is the script's path


def interpolated(init: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``init + alpha * (trained - init)`` for every floating tensor both hold; the rest as ``init``."""
    out = {}
    for name, start in init.items():
        end = trained.get(name)
        if end is None or not start.is_floating_point() or end.shape != start.shape:
            out[name] = start
        else:
            out[name] = start + alpha * (end.to(start.dtype) - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--data", nargs="+", default=["Scientific", "Office"])
    parser.add_argument("--split", default="valid", choices=("valid", "test"))
    parser.add_argument("--write", nargs=2, metavar=("ALPHA", "OUT"),
                        help="write the checkpoint at ALPHA to OUT (no optimizer state) instead of evaluating")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.checkpoint)
    trained = checkpoint["state_dict"]
    if args.write:
        alpha, out = float(args.write[0]), args.write[1]
        init = untrained_network(args.data[0], "valid")[0].state_dict()
        state = {name: value for name, value in interpolated(init, trained, alpha).items() if name in trained}
        describes_source = {"state_dict", "transfer_log", "best_transfer", "slimmed_from", *RESUME_STATE}
        kept = {key: value for key, value in checkpoint.items() if key not in describes_source}
        save_checkpoint({**kept, "state_dict": state,
                         "interpolated_from_init": {"file": args.checkpoint, "alpha": alpha, "init_seed": INIT_SEED}}, out)
        print(f"wrote {out}: init + {alpha:g} * ({args.checkpoint} - init)")
        return
    print(f"{args.checkpoint}, {args.split} NDCG@10 / Recall@10, weights init + alpha * (checkpoint - init)")
    print("| alpha | " + " | ".join(args.data) + " |")
    print("|---:|" + "---:|" * len(args.data))
    targets, models = [], []
    for name in args.data:
        model, target = untrained_network(name, args.split)
        targets.append(target)
        models.append((model, {k: v.clone() for k, v in model.state_dict().items()}))
    for alpha in args.alphas:
        cells = []
        for target, (model, init) in zip(targets, models):
            model.load_state_dict(interpolated(init, trained, alpha))
            result = evaluate_zero_shot(model, target)
            cells.append(f"{result['ndcg@10']:.4f} / {result['recall@10']:.4f}")
        print(f"| {alpha:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
