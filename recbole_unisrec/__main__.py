"""Command line: ``python -m recbole_unisrec <command> ...`` (``--help`` on each command).

    convert shared --all --shared-root ../shared/data --out dataset --pack
    convert amazon2018 --ratings Industrial.csv --meta meta_Industrial.json.gz --name Industrial
    convert online-retail --csv OnlineRetail.csv --name OnlineRetail
    corpus --domains Beauty,Toys,Games            # pre-training corpus BTG
    encode -d Scientific                           # text vectors (cached next to the data)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from recbole_unisrec.data.layout import SHIPPED_DATA


def _convert(args: argparse.Namespace) -> dict:
    from recbole_unisrec.data import convert
    from recbole_unisrec.data.convert.common import write_dataset
    from recbole_unisrec.data.layout import pack_for_shipping

    out = Path(args.out)
    if args.source == "shared":
        if not args.all and not args.name:
            raise ValueError("convert shared needs --name NAME or --all")
        names = list(convert.SHARED_SOURCES) if args.all else [args.name]
        stats = {name: convert.convert_shared(name, Path(args.shared_root), out) for name in names}
    elif args.source == "amazon2018":
        from recbole_unisrec.data.convert.amazon2018_raw import load_amazon2018

        data = load_amazon2018(Path(args.ratings), Path(args.meta), args.name, user_k=args.k, item_k=args.k)
        stats = {args.name: write_dataset(data, out)}
    else:
        from recbole_unisrec.data.convert.online_retail import load_online_retail

        data = load_online_retail(Path(args.csv), args.name, user_k=args.k, item_k=args.k, encoding=args.encoding)
        stats = {args.name: write_dataset(data, out)}
    if args.pack:
        for name in stats:
            pack_for_shipping(out / name, name)
    return {name: {**value.as_dict(), "dropped_users": value.dropped_users} for name, value in stats.items()}


def _corpus(args: argparse.Namespace) -> dict:
    from recbole_unisrec.data.corpus import build_corpus, corpus_name

    domains = [d for d in args.domains.split(",") if d]
    stats = build_corpus(domains, Path(args.data_root), Path(args.out or args.data_root), args.name)
    return {args.name or corpus_name(domains): stats.as_dict()}


def _encode(args: argparse.Namespace) -> dict:
    from recbole_unisrec.text import EncoderSpec, text_vectors

    spec = EncoderSpec(model=args.model, pooling=args.pooling, batch_size=args.batch_size)
    table = text_vectors(Path(args.data_root), args.dataset, spec, word_drop_ratio=args.word_drop, seed=args.seed)
    return {"dataset": args.dataset, "rows": table.shape[0], "dim": table.shape[1], "file": getattr(table, "filename", None)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recbole_unisrec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    conv = commands.add_parser("convert", help="turn a source into the project's atomic files")
    conv.add_argument("source", choices=["shared", "amazon2018", "online-retail"])
    conv.add_argument("--name", help="data set name (shared: one of the canonical names)")
    conv.add_argument("--all", action="store_true", help="shared: convert every shared data set")
    conv.add_argument("--shared-root", default=str(SHIPPED_DATA.parent.parent / "shared" / "data"))
    conv.add_argument("--ratings", help="amazon2018: ratings CSV (item,user,rating,time)")
    conv.add_argument("--meta", help="amazon2018: meta_<Category>.json.gz")
    conv.add_argument("--csv", help="online-retail: the raw CSV")
    conv.add_argument("--encoding", default="utf-8", help="online-retail: CSV encoding (the full UCI file is latin-1)")
    conv.add_argument("-k", type=int, default=5, help="k-core filter for raw sources (default 5)")
    conv.add_argument("--out", default=str(SHIPPED_DATA), help="folder that receives <Name>/")
    conv.add_argument("--pack", action="store_true", help="gzip the .inter files, as shipped in dataset/")
    conv.set_defaults(run=_convert)

    corpus = commands.add_parser("corpus", help="merge data sets into a multi-domain pre-training corpus")
    corpus.add_argument("--domains", required=True, help="comma-separated data set names, e.g. Beauty,Toys,Games")
    corpus.add_argument("--name", default=None, help="corpus name (default: the domains' initials)")
    corpus.add_argument("--data-root", default=str(SHIPPED_DATA))
    corpus.add_argument("--out", default=None, help="default: --data-root")
    corpus.set_defaults(run=_corpus)

    enc = commands.add_parser("encode", help="encode a data set's item texts (cached)")
    enc.add_argument("-d", "--dataset", required=True)
    enc.add_argument("--data-root", default=str(SHIPPED_DATA))
    enc.add_argument("--model", default="default", help="'default' (offline MiniLM), a local dir or a hub name")
    enc.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    enc.add_argument("--batch-size", type=int, default=64)
    enc.add_argument("--word-drop", type=float, default=0.0, help="encode the word-dropped copy with this ratio")
    enc.add_argument("--seed", type=int, default=2022)
    enc.set_defaults(run=_encode)
    return parser


def main(argv: list[str] | None = None) -> int:
    import recbole_unisrec  # noqa: F401  (compat fixes)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
