"""Anisotropy and domain fusion: mean cosine similarity of item text vectors within and across
domains, before and after a pre-trained UniSRec's MoE whitening adaptor, with a 2-D PCA view.

    python run_anisotropy.py -p checkpoints/UniSRec-BTGYMS-3epochs.pth --out results/anisotropy-3epochs
    python run_anisotropy.py -d Beauty Toys Scientific -n 500 --seed 1 --cached-only

Samples up to N items per data set (seeded; default 1000) from the default data sets (the
pre-training domains Beauty, Toys, Games, Yelp, MicroLens, Steam and the downstream Scientific,
Office). Vectors come from each data set's text-vector cache; where a data set has none, only the
sampled items are encoded (about 65 items/s on a 2-core CPU), or with --cached-only it is an
error. Writes OUT.md (tables and this command) and OUT.png (PCA before / after the adaptor).
Without -p only the raw text vectors are measured.
"""
from __future__ import annotations

import json
import shlex
import sys
import time

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.analysis.anisotropy import DEFAULT_DATASETS, anisotropy, describe, write_report
from recbole_unisrec.cli import run_script, script_parser


def main(argv: list[str] | None = None) -> list:
    parser = script_parser(__doc__)
    parser.add_argument("-p", "--pretrained", default=None, help="UniSRec checkpoint whose adaptor is measured")
    parser.add_argument("-d", "--datasets", nargs="+", default=list(DEFAULT_DATASETS), help="data sets (domains)")
    parser.add_argument("-n", "--items", type=int, default=1000, help="items sampled per data set (default: 1000)")
    parser.add_argument("--seed", type=int, default=2020, help="sampling seed (default: 2020)")
    parser.add_argument("--cached-only", action="store_true", help="refuse to encode: every data set needs cached vectors")
    parser.add_argument("--out", default="results/anisotropy", help="output path without suffix (default: results/anisotropy)")
    args = parser.parse_args(argv)
    if args.items < 2:
        parser.error("--items must be at least 2 (pairs of items)")
    command = "python run_anisotropy.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    started = time.perf_counter()
    result = anisotropy(args.datasets, args.pretrained, args.items, args.seed, args.data_root, encode=not args.cached_only)
    seconds = time.perf_counter() - started
    encoded = [s.name for s in result.samples if not s.cached]
    caption = (f"{len(result.samples)} data sets, up to {args.items} items each (seed {args.seed})"
               + (f"; adaptor of `{args.pretrained}` (eval mode)" if args.pretrained else "")
               + (f"; not cached, sample encoded now: {', '.join(encoded)}" if encoded else "")
               + f". {seconds:.0f} s.\n\n`{command}`")
    paths = write_report(args.out, result, caption)
    print(json.dumps(describe(result), indent=1))
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    run_script(main)
