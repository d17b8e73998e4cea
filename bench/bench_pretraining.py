"""Pre-training benchmark: loading the corpus, then the project's path against the stock path.

    OMP_NUM_THREADS=1 python bench/bench_pretraining.py                 # default corpus BTGYMS
    python bench/bench_pretraining.py --steps 20 --stock-steps 3 --corpus BTGYMS
    python bench/bench_pretraining.py --stock-steps 0 --variants occurrence:0,item:0,occurrence:1,occurrence:3

1. Loading: wall seconds and peak resident memory (above the process's level at start) of
   building the corpus's RecBole dataset, its text vectors (read memory-mapped from the cache)
   and the pre-training loader: what ``run_pretrain.py`` holds before its first step.
2. Training steps, after one warm-up step each, at ``train_batch_size`` sequences per step:
   * the project's path: ``PretrainDataLoader`` (packed rows, every position a sequence,
     length-bucketed, vectorised augmentation, the adaptor once per distinct item);
   * the stock path, the way the original UniSRec pre-trains: RecBole's ``TrainDataLoader`` over
     the same prefix rows padded to ``MAX_ITEM_LIST_LENGTH``, the augmentation drawn row by row in
     Python, the adaptor applied to every item slot, the same model and the same two losses.
   Reported: seconds per step, sequences per second, seconds per epoch (extrapolated), peak
   memory of the steps, and the ratio.
3. ``--variants``: the project's path under other pre-training settings, each
   ``adaptor:targets_per_row`` (``adaptor_per_occurrence`` True = ``occurrence``, False = ``item``;
   ``pretrain_targets_per_row``), with the distinct users a step sees.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import time

import torch
import torch.nn.functional as F
from bench_training import PeakMemory

import recbole_unisrec  # noqa: F401
from recbole.data.dataloader import TrainDataLoader
from recbole_unisrec.config import PROPS, Config
from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.data.pretrain_loader import PretrainDataLoader
from recbole_unisrec.model.unisrec import UniSRec, _contrastive_terms
from recbole_unisrec.registry import create_dataset


class StockAugmentation:
    """The augmented view drawn row by row, as the original code's collate function does."""

    def __init__(self, ratio: float, coefficient: float, seed: int):
        self.ratio, self.coefficient = ratio, coefficient
        self.random = random.Random(seed)

    def __call__(self, item_seq: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = item_seq.size(1)
        rows, words, kept_lengths = [], [], []
        for items, length in zip(item_seq.tolist(), lengths.tolist()):
            if self.random.random() < self.coefficient:  # item drop, the first item always kept
                kept = items[:1] + [item for item in items[1:length] if self.random.random() >= self.ratio]
                dropped = [False] * width
            else:  # word drop
                kept = items[:length]
                dropped = [self.random.random() < self.ratio for _ in range(length)] + [False] * (width - length)
            rows.append(kept + [0] * (width - len(kept)))
            words.append(dropped)
            kept_lengths.append(len(kept))
        return torch.tensor(rows), torch.tensor(words), torch.tensor(kept_lengths)


def stock_loss(model: UniSRec, batch, plm: torch.Tensor, word_dropped: torch.Tensor,
               augmentation: StockAugmentation) -> torch.Tensor:
    item_seq, lengths = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    next_ids = batch[model.POS_ITEM_ID]
    aug_seq, aug_words, aug_lengths = augmentation(item_seq, lengths)
    sequences = model.forward(model.moe_adaptor(plm[item_seq]), lengths)
    aug_vectors = torch.where(aug_words.unsqueeze(-1), word_dropped[aug_seq], plm[aug_seq])
    views = model.forward(model.moe_adaptor(aug_vectors), aug_lengths)
    next_items = model.moe_adaptor(plm[next_ids])
    seq_item, seq_seq = _contrastive_terms(F.normalize(sequences, dim=-1), F.normalize(next_items, dim=-1),
                                           F.normalize(views, dim=-1), next_ids, batch[model.USER_ID], model.temperature)
    return seq_item + model.lam * seq_seq


def time_steps(step, batches, steps: int, count_of) -> tuple[float, int, float]:
    """Seconds per step and sequences per step over ``steps`` steps after one warm-up step; peak MiB."""
    iterator = iter(batches)
    step(next(iterator))
    sequences = 0
    with PeakMemory() as memory:
        started = time.perf_counter()
        for _ in range(steps):
            batch = next(iterator)
            sequences += count_of(batch)
            step(batch)
        elapsed = time.perf_counter() - started
    return elapsed / steps, sequences // steps, memory.mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="BTGYMS", help="a built pre-training corpus under dataset/")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of the project's path")
    parser.add_argument("--stock-steps", type=int, default=3, help="timed steps of the stock path")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--variants", default="", help="comma-separated adaptor:targets_per_row, e.g. item:0,occurrence:2")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; corpus {args.corpus}; batch {args.batch_size} sequences")
    config = Config(model="UniSRec", dataset=args.corpus, config_file_list=[str(PROPS / "pretrain.yaml")],
                    config_dict={"show_progress": False, "train_batch_size": args.batch_size})
    with PeakMemory() as loading:
        started = time.perf_counter()
        train_set = create_dataset(config).build()[0]
        loader = PretrainDataLoader(config, train_set, shuffle=True)
        load_seconds = time.perf_counter() - started
    sequences_per_epoch = len(train_set.inter_feat)
    print(f"\nloading {args.corpus}: {sequences_per_epoch:,} sequences, {train_set.item_num - 1:,} items, "
          f"{load_seconds:.1f} s, peak {loading.mib:,.0f} MiB above the start "
          f"(text vectors: {2 * train_set.plm_embedding.weight.numel() * 4 / 2**20:,.0f} MiB of it, plain + word-dropped)")

    torch.manual_seed(config["seed"])
    model = UniSRec(config, train_set)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step_on(loss_fn):
        def step(batch) -> None:
            optimizer.zero_grad()
            loss_fn(batch).backward()
            optimizer.step()
        return step

    fast = time_steps(step_on(model.calculate_loss), loader, args.steps,
                      lambda batch: int((batch[TARGETS_FIELD] > 0).sum()))
    rows = [("project (packed, bucketed, vectorised)", fast)]
    if args.stock_steps:
        stock_loader = TrainDataLoader(config, train_set, None, shuffle=True)
        augmentation = StockAugmentation(config["item_drop_ratio"], config["item_drop_coefficient"], config["seed"])
        plm, word_dropped = train_set.plm_embedding.weight.detach(), train_set.word_drop_embedding.weight.detach()
        stock = time_steps(step_on(lambda batch: stock_loss(model, batch, plm, word_dropped, augmentation)),
                           stock_loader, args.stock_steps, lambda batch: len(batch))
        rows.insert(0, ("stock (prefix rows padded to 50, per-row augmentation)", stock))
    baseline = rows[0][1]
    print(f"\n{'path':52s} {'s/step':>7s} {'seq/step':>9s} {'seq/s':>7s} {'s/epoch':>8s} {'peak MiB':>9s} {'speed-up':>9s}")
    for name, (seconds, per_step, peak) in rows:
        rate = per_step / seconds
        print(f"{name:52s} {seconds:7.2f} {per_step:9d} {rate:7.0f} {sequences_per_epoch / rate:8.0f} {peak:9.0f} "
              f"{rate / (baseline[1] / baseline[0]):8.1f}x", flush=True)
    if args.variants:
        time_variants(args.variants, config, train_set, model, step_on, args.steps, sequences_per_epoch)


def time_variants(variants: str, config, train_set, model: UniSRec, step_on, steps: int, sequences_per_epoch: int) -> None:
    from recbole_unisrec.data.pretrain_loader import ROW_USERS

    print(f"\n{'adaptor':>10s} {'per row':>7s} {'s/step':>7s} {'seq/step':>9s} {'users/step':>10s} {'seq/s':>7s} {'s/epoch':>8s}")
    for variant in variants.split(","):
        adaptor, per_row = variant.split(":")
        config["pretrain_targets_per_row"] = int(per_row)
        model.adaptor_per_occurrence = adaptor == "occurrence"
        loader = PretrainDataLoader(config, train_set, shuffle=True)
        users = []

        def count(batch) -> int:
            users.append(len(torch.unique(batch[ROW_USERS])))
            return int((batch[TARGETS_FIELD] > 0).sum())

        seconds, per_step, _ = time_steps(step_on(model.calculate_loss), loader, steps, count)
        rate = per_step / seconds
        print(f"{adaptor:>10s} {per_row:>7s} {seconds:7.2f} {per_step:9d} {sum(users) / len(users):10.0f} {rate:7.0f} "
              f"{sequences_per_epoch / rate:8.0f}", flush=True)


if __name__ == "__main__":
    main()
