"""``convert table`` at scale: a synthetic interaction log of 10 million rows, timed.

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_convert_table.py            # 10M rows
    python bench/bench_convert_table.py --rows 1000000 --gzip

Writes, into a temporary folder (deleted afterwards), ``interactions.csv`` (``user_id,item_id,
timestamp``: Zipf-like item popularity, about 20 rows per user, 1% exact duplicate rows, 1% rows
of items missing from the item table) and ``items.csv`` (``item_id,title,brand``, some titles
quoted with commas). The conversion then runs in a fresh process, so its numbers are its own:
seconds for reading and reducing (``load_table``) and for writing (``write_dataset``), and peak
resident memory (``resource.getrusage``, ``ru_maxrss``), beside the level right after the imports
(importing the package loads torch, about 400 MiB).
"""
from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 1_000_000


def generate(folder: Path, rows: int, compress: bool, seed: int = 0) -> tuple[Path, Path]:
    """Write the synthetic log and item table; memory stays at one chunk of rows."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(rows // 20, 10), max(rows // 100, 10)
    missing = n_items - max(n_items // 100, 1)  # the top 1% of item codes get no item row
    suffix = ".csv.gz" if compress else ".csv"
    interactions, items = folder / f"interactions{suffix}", folder / f"items{suffix}"
    opener = gzip.open if compress else open
    with opener(interactions, "wt", encoding="utf-8", newline="") as handle:
        handle.write("user_id,item_id,timestamp\n")
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            users = rng.integers(0, n_users, size)
            popular = np.minimum(rng.zipf(1.3, size) - 1, n_items - 1)
            item_codes = np.where(rng.random(size) < 0.01, rng.integers(missing, n_items, size), popular % missing)
            times = 1_500_000_000 + rng.integers(0, 10_000_000, size)
            lines = [f"U{u},I{i},{t}" for u, i, t in zip(users.tolist(), item_codes.tolist(), times.tolist())]
            repeats = rng.random(size) < 0.01
            lines.extend(line for line, repeat in zip(lines, repeats.tolist()) if repeat)
            handle.write("\n".join(lines))
            handle.write("\n")
    with opener(items, "wt", encoding="utf-8", newline="") as handle:
        handle.write("item_id,title,brand\n")
        for code in range(missing):
            title = f'"Item {code}, size {code % 7}"' if code % 3 == 0 else f"Item {code}"
            handle.write(f"I{code},{title},Brand {code % 50}\n")
    return interactions, items


def measure(interactions: str, items: str, out: str) -> None:
    """Run in the child process: convert and print timings and peak memory as JSON."""
    from recbole_unisrec.data.convert.common import write_dataset
    from recbole_unisrec.data.convert.raw.table import load_table

    imported_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the package imports torch
    started = time.perf_counter()
    data = load_table(interactions, items, "Synthetic", time_column="timestamp", text_columns=["title", "brand"], k=5)
    loaded = time.perf_counter()
    stats = write_dataset(data, out)
    written = time.perf_counter()
    print(json.dumps({
        "load_table_s": round(loaded - started, 1),
        "write_dataset_s": round(written - loaded, 1),
        "total_s": round(written - started, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_imports_mib": round(imported_rss / 1024),
        "users": stats.users, "items": stats.items, "interactions": stats.interactions,
        "dropped_rows": stats.dropped_rows,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="interaction rows before the 1%% duplicates")
    parser.add_argument("--gzip", action="store_true", help="write and read .csv.gz")
    parser.add_argument("--measure", nargs=3, metavar=("INTERACTIONS", "ITEMS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    with tempfile.TemporaryDirectory(prefix="bench_convert_table.") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        interactions, items = generate(folder, args.rows, args.gzip)
        print(f"generated {interactions.name} ({interactions.stat().st_size / 2**20:.0f} MiB) and {items.name} "
              f"in {time.perf_counter() - started:.0f} s")
        child = subprocess.run([sys.executable, __file__, "--measure", str(interactions), str(items), str(folder / "out")],
                               check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result["output_mib"] = round(sum(f.stat().st_size for f in (folder / "out" / "Synthetic").iterdir()) / 2**20)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
