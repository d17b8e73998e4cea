"""Serving benchmark on CPU: add 10,000 new items (text encoding included), then the latency of one
recommendation over a 100,000-item catalog, and the memory used.

    python bench/bench_recommend.py                       # untrained model of the paper's sizes
    python bench/bench_recommend.py --checkpoint saved/UniSRec-....pth --repeats 300
    python bench/bench_recommend.py --encode-threads 1   # a machine busy with other work

The model: ``--checkpoint``, or (default) a UniSRec with the sizes of ``props/UniSRec.yaml``
(hidden 300, 2 layers, 2 heads, 8 experts, 384-d text vectors of the default MiniLM encoder) and
random weights; speed does not depend on the weights' values.

The catalog: the item texts of every shipped data set (``dataset/*/<Name>.text``: 100,244 texts;
ids prefixed ``<Name>/`` so they stay unique), cut to ``--catalog`` items.
  1. ``--catalog - --add`` items (90,000) are the existing catalog. Their text vectors are NOT
     all encoded (that would take minutes on this machine): Scientific's items use their real
     cached vectors, every other item a real Scientific vector plus small Gaussian noise (the
     adaptor, the item vectors and scoring see a full-size catalog; only the vectors' values
     are synthetic). Added with ``add_items(..., vectors=...)``, adaptor included, timed.
  2. ``--add`` (10,000) further items are added the way a shop would: ``add_items(pairs)``, every
     text encoded by the language model, timed (the model is loaded before the clock starts;
     its load time is printed separately).
  3. Latency: ``recommend(history, k=10)`` for random catalog histories of 1 to 50 items,
     excluding the history, one at a time (median / p90 / p99 over ``--repeats``); then the
     per-history cost of ``recommend_batch``.
Memory: the process's peak resident size (``resource.getrusage``; includes Python, torch, the
language model and the benchmark's own copies of the texts and vectors), resident size at each
stage (``/proc/self/status``), the catalog's own tensors, and the peak of Python-level allocations during the
10,000-item add (``tracemalloc``; torch's tensor memory is not seen by tracemalloc).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recbole_unisrec  # noqa: E402,F401  (compat fixes)
from recbole_unisrec.data.layout import SHIPPED_DATA, known_datasets  # noqa: E402
from recbole_unisrec.serving import Recommender, _ItemCountOnly, _PlainConfig  # noqa: E402
from recbole_unisrec.text.cache import read_item_texts, text_vectors  # noqa: E402


def rss_mib() -> float:
    """Peak resident size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def current_rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def untrained_checkpoint(folder: Path) -> str:
    from recbole_unisrec.compat import plain_config
    from recbole_unisrec.config import Config
    from recbole_unisrec.model import UniSRec

    config = plain_config(Config(model="UniSRec", dataset="Scientific", config_dict={"device": "cpu", "state": "WARNING"}))
    model = UniSRec(_PlainConfig(config), _ItemCountOnly(1, 384))
    path = folder / "untrained-UniSRec.pth"
    torch.save({"state_dict": model.state_dict(), "config": config}, path)
    return str(path)


def shipped_catalog(data_root: Path) -> list[tuple[str, str, str]]:
    """(data set, id, text) of every shipped item (corpora built from them, with ``<Name>.domains``, skipped)."""
    rows = []
    for name in known_datasets(data_root):
        if (data_root / name / f"{name}.domains").is_file():
            continue
        ids, texts = read_item_texts(data_root / name, name)
        rows.extend((name, f"{name}/{item_id}", text) for item_id, text in zip(ids, texts))
    return rows


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a UniSRec checkpoint (default: untrained, paper sizes)")
    parser.add_argument("--catalog", type=int, default=100_000, help="final catalog size")
    parser.add_argument("--add", type=int, default=10_000, help="items added with text encoding")
    parser.add_argument("--repeats", type=int, default=200, help="single recommendations timed")
    parser.add_argument("--batch", type=int, default=1000, help="histories in the batched timing")
    parser.add_argument("--encode-threads", type=int, default=None,
                        help="torch threads for encoding and adapting (default: torch's, one per core)")
    parser.add_argument("--threads", type=int, default=1, help="Recommender(threads=...) for recommending (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.encode_threads:
        torch.set_num_threads(args.encode_threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{torch.get_num_threads()} torch threads for encoding, {args.threads} for recommending; "
          f"peak RSS at start {rss_mib():.0f} MiB")

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or untrained_checkpoint(Path(tmp))
        started = time.perf_counter()
        rec = Recommender.from_checkpoint(checkpoint, threads=args.threads)
        print(f"load checkpoint: {1000 * (time.perf_counter() - started):.0f} ms "
              f"({'given' if args.checkpoint else 'untrained, paper sizes'}; hidden {rec.hidden_size}, "
              f"{rec.plm_size}-d text vectors, {rec.text_spec.model!r} encoder)")

    rows = shipped_catalog(SHIPPED_DATA)
    if len(rows) < args.catalog:
        raise SystemExit(f"only {len(rows)} shipped texts, fewer than --catalog {args.catalog}")
    order = rng.permutation(len(rows))[: args.catalog]
    new_rows = [rows[i] for i in order[: args.add]]
    base_rows = [rows[i] for i in order[args.add:]]
    print(f"catalog: {len(base_rows):,} existing + {len(new_rows):,} new items, from {len(rows):,} shipped texts")

    # 1. the existing catalog, vectors real (Scientific) or Scientific's plus noise (others)
    scientific_ids, _ = read_item_texts(SHIPPED_DATA / "Scientific", "Scientific")
    scientific = np.asarray(text_vectors(SHIPPED_DATA, "Scientific", rec.text_spec, show_progress=False))
    row_of = {f"Scientific/{item_id}": row for row, item_id in enumerate(scientific_ids)}
    picks = rng.integers(0, len(scientific), size=len(base_rows))
    base_vectors = scientific[picks]
    base_vectors += 0.02 * rng.standard_normal(size=base_vectors.shape, dtype=np.float32)
    real = [(i, row_of[item_id]) for i, (_, item_id, _) in enumerate(base_rows) if item_id in row_of]
    for i, row in real:
        base_vectors[i] = scientific[row]
    started = time.perf_counter()
    rec.add_items([(item_id, text) for _, item_id, text in base_rows], vectors=base_vectors)
    seconds = time.perf_counter() - started
    print(f"existing catalog, {len(base_rows):,} items from given text vectors ({len(real):,} real, the rest "
          f"synthetic), adaptor only: {seconds:.2f} s")
    del base_vectors
    print(f"resident memory now {current_rss_mib():.0f} MiB")

    # 2. add new items, text encoding included
    from recbole_unisrec.text.encoder import encode_texts, load_model

    started = time.perf_counter()
    load_model(rec.text_spec.model, rec.text_spec.device)
    encode_texts(["warm-up"], rec.text_spec)
    print(f"language model load + warm-up: {time.perf_counter() - started:.2f} s (not counted below)")
    tracemalloc.start()
    started = time.perf_counter()
    rec.add_items([(item_id, text) for _, item_id, text in new_rows])
    add_seconds = time.perf_counter() - started
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"ADD {len(new_rows):,} new items (encode + adapt + insert) into {len(base_rows):,}: {add_seconds:.1f} s "
          f"({len(new_rows) / add_seconds:.0f} items/s); Python-level peak during it {python_peak / 2**20:.0f} MiB")
    assert len(rec) == args.catalog
    print(f"resident memory now {current_rss_mib():.0f} MiB (language model loaded)")

    # 3. latency over the full catalog
    ids = rec.item_ids
    histories = [[ids[i] for i in rng.integers(0, len(ids), size=rng.integers(1, 51))] for _ in range(args.repeats + args.batch)]
    for history in histories[:20]:  # warm-up
        rec.recommend(history, k=10)
    times = []
    for history in histories[: args.repeats]:
        started = time.perf_counter()
        rec.recommend(history, k=10)
        times.append(1000 * (time.perf_counter() - started))
    print(f"RECOMMEND one history (1-50 items, k=10, history excluded) over {len(rec):,} items: "
          f"median {statistics.median(times):.2f} ms, p90 {percentile(times, 90):.2f} ms, "
          f"p99 {percentile(times, 99):.2f} ms, max {max(times):.2f} ms ({args.repeats} runs; target < 20 ms)")
    batch = histories[args.repeats:]
    started = time.perf_counter()
    rec.recommend_batch(batch, k=10)
    per = 1000 * (time.perf_counter() - started) / len(batch)
    print(f"RECOMMEND batched: {len(batch)} histories, {per:.2f} ms per history")

    print(f"MEMORY: peak RSS {rss_mib():.0f} MiB, now {current_rss_mib():.0f} MiB (whole process: Python, torch, "
          f"language model, the benchmark's own 100k texts); catalog tensors "
          f"{rec.nbytes / 2**20:.0f} MiB for {len(rec):,} items (room for {rec.capacity:,}, "
          f"{rec.hidden_size} floats each)")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on this machine slows every number)")


if __name__ == "__main__":
    main()
