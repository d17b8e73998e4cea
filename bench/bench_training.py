"""Training-speed benchmark: the project's fast path against RecBole's stock path, one process.

    python bench/bench_training.py                     # fine-tuning on shipped Scientific
    python bench/bench_training.py --stock-steps 5     # more stock steps for a steadier estimate

For each path it builds the model and loaders exactly as ``quick_start.run`` does, runs one
warm-up step, then times training steps through RecBole's ``Trainer`` loss/backward/step.
The fast paths (UniSRec packed, SASRec packed) are timed over a whole epoch; the stock paths over
``--stock-steps`` steps, extrapolated to an epoch. Reported per path: seconds per epoch,
training examples (prefix rows) per second, and peak resident memory above the process's
baseline while that path ran. Ratios are against RecBole's SASRec (hidden 300, stock loader).
It also reports the text encoder's items per second on Scientific's texts.

The device is RecBole's (``use_gpu``/``gpu_id``: a CUDA card where torch sees one). On CUDA,
timings synchronise the card before the clock is read, peak memory is the card's
(``torch.cuda.max_memory_allocated``), and ``--amp`` times float16 autocast with a gradient scaler
(RecBole's ``enable_amp``/``enable_scaler``).

    python bench/bench_training.py -d ML-1M --stock-steps 20 --amp --encoder-items 0   # on a GPU
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import threading
import time
from dataclasses import dataclass

import torch

import recbole_unisrec  # noqa: F401
from recbole_unisrec.config import Config
from recbole_unisrec.data.layout import SHIPPED_DATA
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.registry import create_dataset, get_model
from recbole_unisrec.text.cache import read_item_texts
from recbole_unisrec.text.encoder import EncoderSpec, encode_texts, load_model

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakMemory:
    """Peak resident memory while the block runs, sampled every 5 ms, above the level at entry."""

    def __enter__(self):
        gc.collect()
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


@dataclass
class Measurement:
    name: str
    seconds_per_epoch: float
    examples_per_second: float
    peak_mib: float
    steps_timed: int
    steps_per_epoch: int


def measure(name: str, model_name: str, dataset: str, max_steps: int | None, amp: bool = False,
            **config_dict) -> Measurement:
    config = Config(model=model_name, dataset=dataset, config_dict={"show_progress": False, **config_dict})
    device = config["device"]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with PeakMemory() as memory:
        data = create_dataset(config)
        train, _, _ = data_preparation(config, data)
        model = get_model(model_name)(config, train._dataset).to(device)
        model.train()
        optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=1e-3)
        scaler = torch.amp.GradScaler(device.type, enabled=amp)
        examples_per_epoch = len(train._dataset.inter_feat)

        def step(batch) -> None:
            optimizer.zero_grad()
            with torch.autocast(device_type=device.type, enabled=amp):
                loss = model.calculate_loss(batch.to(device))
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        def clock() -> float:
            if cuda:
                torch.cuda.synchronize(device)
            return time.perf_counter()

        batches = iter(train)
        step(next(batches))  # warm-up
        steps_per_epoch = len(train)
        started = clock()
        timed = 0
        for batch in batches if max_steps is None else (b for b, _ in zip(batches, range(max_steps))):
            step(batch)
            timed += 1
        elapsed = clock() - started
    peak_mib = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else memory.mib
    seconds_per_step = elapsed / timed
    seconds_per_epoch = seconds_per_step * steps_per_epoch
    return Measurement(name, seconds_per_epoch, examples_per_epoch / seconds_per_epoch, peak_mib, timed, steps_per_epoch)


def encoder_speed(dataset: str, count: int) -> float:
    _, texts = read_item_texts(SHIPPED_DATA / dataset, dataset)
    spec = EncoderSpec()
    load_model(spec.model, spec.device)
    started = time.perf_counter()
    encode_texts(list(texts[:count]), spec)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--dataset", default="Scientific")
    parser.add_argument("--stock-steps", type=int, default=3, help="timed steps of each stock path")
    parser.add_argument("--encoder-items", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--amp", action="store_true", help="also time each path with float16 autocast (CUDA)")
    args = parser.parse_args()

    common = {"train_batch_size": args.batch_size, "hidden_size": 300, "seed": 2022}
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA card"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {card}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; data set {args.dataset}; batch {args.batch_size} examples")
    results = [
        measure("RecBole SASRec (stock loader, hidden 300)", "SASRec", args.dataset, args.stock_steps,
                inner_size=256, n_layers=2, n_heads=2, **common),
        measure("UniSRec through the stock path", "UniSRec", args.dataset, args.stock_steps, packed_training=False, **common),
        measure("UniSRec fast path (packed, bucketed)", "UniSRec", args.dataset, None, **common),
        measure("RecBole SASRec, packed rows (hidden 300)", "SASRec", args.dataset, None, packed_training=True,
                inner_size=256, n_layers=2, n_heads=2, **common),
    ]
    if args.amp:
        results += [
            measure("UniSRec fast path, AMP (float16 autocast)", "UniSRec", args.dataset, None, amp=True, **common),
            measure("RecBole SASRec, packed rows, AMP", "SASRec", args.dataset, None, amp=True, packed_training=True,
                    inner_size=256, n_layers=2, n_heads=2, **common),
        ]
    stock = results[0]
    memory = "GPU peak MiB" if torch.cuda.is_available() else "peak MiB"
    print(f"\n{'path':45s} {'s/epoch':>9s} {'examples/s':>11s} {memory:>12s} {'speed-up':>9s} {'steps timed':>12s}")
    for r in results:
        print(f"{r.name:45s} {r.seconds_per_epoch:9.2f} {r.examples_per_second:11.0f} {r.peak_mib:12.0f} "
              f"{stock.seconds_per_epoch / r.seconds_per_epoch:8.1f}x {r.steps_timed:>5d} of {r.steps_per_epoch}")
    if args.encoder_items:
        print(f"\ntext encoder (default MiniLM, CPU): {encoder_speed(args.dataset, args.encoder_items):.0f} items/s "
              f"over {args.encoder_items} {args.dataset} texts")


if __name__ == "__main__":
    main()
