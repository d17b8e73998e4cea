"""Evaluation-speed benchmark: UniSRec's full-ranking evaluation with the last Transformer layer
run at every position (the full pass) against run at each sequence's last item only (the default).

    python bench/bench_evaluation.py                  # shipped Scientific, validation split
    python bench/bench_evaluation.py -d ML-1M         # long histories: where the pass costs most

Both variants evaluate the same untrained-but-seeded model on the same split through the
project's trainer (RecBole's ``Trainer.evaluate``: full ranking, every metric of the config), in
one process, alternating ``--repeats`` times; it prints the median seconds of each, their ratio,
and the largest metric difference between the two (float rounding only).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from recbole.utils import init_seed

import recbole_unisrec  # noqa: F401
from recbole_unisrec.config import Config
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.registry import create_dataset, get_model, get_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--dataset", default="Scientific")
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = Config(model="UniSRec", dataset=args.dataset, config_dict={"show_progress": False, "seed": 2020, "metric_decimal_place": 7})
    train, valid, test = data_preparation(config, create_dataset(config))
    init_seed(config["seed"], config["reproducibility"])  # as the runner does: encoding texts on a cold cache draws from the RNG
    model = get_model("UniSRec")(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], "UniSRec")(config, model)
    split = valid if args.split == "valid" else test
    last_item_pass = model.forward

    def full_pass(item_emb: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        return model.gather_indexes(model.encode_positions(item_emb), item_seq_len - 1)

    seconds: dict[str, list[float]] = {"full pass": [], "last item only": []}
    metrics: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, forward in (("full pass", full_pass), ("last item only", last_item_pass)):
            model.forward = forward
            started = time.perf_counter()
            metrics[name] = trainer.evaluate(split, load_best_model=False, show_progress=False)
            seconds[name].append(time.perf_counter() - started)
    full, fast = (statistics.median(seconds[name]) for name in seconds)
    difference = max(abs(metrics["full pass"][key] - metrics["last item only"][key]) for key in metrics["full pass"])
    print(f"{args.dataset}, {args.split} split ({len(split.dataset)} rows), {torch.get_num_threads()} threads, "
          f"{config['device']}, median of {args.repeats}")
    print(f"full pass       {full:8.2f} s")
    print(f"last item only  {fast:8.2f} s   {full / fast:.2f}x")
    print(f"largest metric difference: {difference:.2g}  ({dict(metrics['last item only'])})")


if __name__ == "__main__":
    main()
