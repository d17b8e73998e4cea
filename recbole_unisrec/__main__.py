"""Command line: ``python -m recbole_unisrec <command> ...`` (``--help`` on each command).

    convert shared --all --shared-root ../shared/data --out dataset --pack
    convert amazon2018 --ratings Industrial.csv --meta meta_Industrial.json.gz --name Industrial
    convert online-retail --csv OnlineRetail.csv --name OnlineRetail
    convert table --interactions log.csv --items items.csv --name Mine --time-col timestamp --text-cols title,brand
    convert unisrec-files --src ~/UniSRec/dataset/downstream/Scientific --name Scientific --out dataset/original
    import-checkpoint UniSRec-FHCKM-300.pth UniSRec-FHCKM-300.imported.pth   # the original code's checkpoint
    slim saved/UniSRec-BTGYMS-1.pth UniSRec-BTGYMS-1epoch.pth   # a third of the size: no optimizer/resume state
    corpus --domains Beauty,Toys,Games            # pre-training corpus BTG
    encode -d Scientific                           # text vectors (cached next to the data)
    recommend --checkpoint CKPT -d Scientific --history "B00TNNWMXI B00IBZE2EQ" -k 10
    evaluate -p CKPT -d Office [--split valid] [--topk 5 10 20]   # full-ranking Recall/NDCG; zero-shot for a pre-trained one
    plot-transfer saved/UniSRec-BTGYMS-transfer.csv --out results/pretraining   # loss and zero-shot NDCG@10 by epoch
    table results/A.runs.csv results/B.runs.csv [--out results/AB]   # one table from several run_compare files
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import traceback
from pathlib import Path

from recbole_unisrec.data.layout import SHIPPED_DATA
from recbole_unisrec.original import DEFAULT_PLM_SUFFIX


def _convert(args: argparse.Namespace) -> dict:
    from recbole_unisrec.data.convert import shared
    from recbole_unisrec.data.convert.common import write_dataset
    from recbole_unisrec.data.layout import pack_for_shipping

    out = Path(args.out)
    if args.source == "unisrec-files":  # the original code's processed folder, copied as it is
        return _convert_unisrec_files(args, out)
    if args.source == "shared":
        if not args.all and not args.name:
            raise ValueError("convert shared needs --name NAME or --all")
        names = list(shared.SHARED_SOURCES) if args.all else [args.name]
        stats = {name: shared.convert_shared(name, Path(args.shared_root), out) for name in names}
    elif args.source == "amazon2018":
        from recbole_unisrec.data.convert.raw.amazon2018_raw import load_amazon2018

        data = load_amazon2018(Path(args.ratings), Path(args.meta), args.name, user_k=args.k, item_k=args.k)
        stats = {args.name: write_dataset(data, out)}
    elif args.source == "table":
        from recbole_unisrec.data.convert.raw.table import load_table

        if not (args.interactions and args.items and args.name):
            raise ValueError("convert table needs --interactions FILE --items FILE --name NAME")
        data = load_table(args.interactions, args.items, args.name, user_column=args.user_col, item_column=args.item_col,
                          time_column=args.time_col, item_key_column=args.items_key_col,
                          text_columns=[c.strip() for c in args.text_cols.split(",") if c.strip()], k=args.k)
        stats = {args.name: write_dataset(data, out)}
    else:
        from recbole_unisrec.data.convert.raw.online_retail import load_online_retail

        data = load_online_retail(Path(args.csv), args.name, user_k=args.k, item_k=args.k, encoding=args.encoding)
        stats = {args.name: write_dataset(data, out)}
    if args.pack:
        for name in stats:
            pack_for_shipping(out / name, name)
    return {name: {**value.as_dict(), "dropped_users": value.dropped_users,
                   **({"dropped_rows": value.dropped_rows} if value.dropped_rows else {})} for name, value in stats.items()}


def _corpus(args: argparse.Namespace) -> dict:
    from recbole_unisrec.data.corpus import build_corpus, corpus_name

    domains = [d for d in args.domains.split(",") if d]
    stats = build_corpus(domains, Path(args.data_root), Path(args.out or args.data_root), args.name)
    return {args.name or corpus_name(domains): stats.as_dict()}


def _encode(args: argparse.Namespace) -> dict:
    from recbole_unisrec.text import EncoderSpec, text_vectors

    spec = EncoderSpec(model=args.model, pooling=args.pooling, batch_size=args.batch_size, device=args.device)
    table = text_vectors(Path(args.data_root), args.dataset, spec, word_drop_ratio=args.word_drop, seed=args.seed)
    filename = getattr(table, "filename", None)  # a Path under numpy 2.4, which json cannot write
    return {"dataset": args.dataset, "rows": table.shape[0], "dim": table.shape[1], "file": str(filename) if filename else None}


def _convert_unisrec_files(args: argparse.Namespace, out: Path) -> dict:
    from recbole_unisrec.data.layout import pack_for_shipping
    from recbole_unisrec.original.data_folder import import_data_folder

    if not (args.src and args.name):
        raise ValueError("convert unisrec-files needs --src DIR --name NAME")
    summary = import_data_folder(Path(args.src), args.name, out, plm_suffix=args.plm_suffix, replace=args.force)
    if args.pack:
        pack_for_shipping(out / args.name, args.name)
    return {args.name: summary}


def _import_checkpoint(args: argparse.Namespace) -> dict:
    from recbole_unisrec.original.checkpoint import write_imported_checkpoint

    return write_imported_checkpoint(Path(args.source), Path(args.output))


def _slim(args: argparse.Namespace) -> dict:
    from recbole_unisrec.checkpoint import write_slim_checkpoint

    return write_slim_checkpoint(Path(args.source), Path(args.output))


def _recommend(args: argparse.Namespace) -> dict | None:
    """``recommend``: rank catalog items after one history (printed) or many (written to a file)."""
    from recbole_unisrec.serving import Recommender, read_catalog, read_histories
    from recbole_unisrec.serving.recommend_command import print_recommendations, recommendations_json, write_recommendations

    if args.k < 1:
        raise ValueError(f"-k must be a positive integer, got {args.k}")
    if args.histories and not args.output:
        raise ValueError("--histories needs --output FILE")
    rec = Recommender.from_checkpoint(
        args.checkpoint, catalog=args.catalog, dataset=args.dataset, data_root=args.data_root,
        text_encoder=args.text_encoder, use_id_vectors=not args.no_id_vectors,
    )
    if args.add_items:
        rec.add_items(read_catalog(args.add_items))
    exclude = not args.include_history
    if args.history is not None:
        result = rec.recommend(args.history, k=args.k, exclude_history=exclude)
        if args.json:
            return recommendations_json(args.history, rec.mode, result)
        print_recommendations(result, rec.mode)
        return None
    histories = read_histories(args.histories)
    labels = [f"{args.histories}: user {user!r}" for user, _ in histories]
    results = rec.recommend_batch([items for _, items in histories], k=args.k, exclude_history=exclude, labels=labels)
    write_recommendations(args.output, [user for user, _ in histories], results)
    return {"histories": len(histories), "k": args.k, "items_in_catalog": len(rec), "mode": rec.mode, "output": str(args.output)}


def _evaluate(args: argparse.Namespace) -> dict | None:
    """``evaluate``: test (or validation) Recall and NDCG of any checkpoint at its (or ``--topk``) cut-offs, as a table."""
    from recbole_unisrec.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_root, split=args.split, ks=args.topk)
    if args.json:
        return {"checkpoint": result.path, "model": result.label, "dataset": result.dataset, "split": result.split,
                "users": result.users, "zero_shot": result.zero_shot, "metrics": result.metrics}
    print(result.table())
    return None


def _command_line(args: argparse.Namespace) -> str:
    """The command that made an output file, as written into it (Markdown code)."""
    return f"`python -m recbole_unisrec {shlex.join(args.argv)}`"


def _plot_transfer(args: argparse.Namespace) -> dict:
    """``plot-transfer``: pre-training curves of one or more runs (their ``-transfer.csv`` files)."""
    from recbole_unisrec.analysis.transfer_curve import read_transfer_log, write_curve

    labels = args.labels or [None] * len(args.csv)
    if len(labels) != len(args.csv):
        raise ValueError(f"{len(labels)} labels for {len(args.csv)} files")
    logs = [read_transfer_log(path, label) for path, label in zip(args.csv, labels)]
    caption = "\n\n".join(part for part in (args.caption.strip(), _command_line(args)) if part)
    return {"written": [str(path) for path in write_curve(args.out, logs, caption=caption, title=args.title)]}


def _table(args: argparse.Namespace) -> None:
    """``table``: one mean ± std table from the runs files of several ``run_compare.py`` calls."""
    from recbole_unisrec.compare import markdown_table, merge_runs, summary_rows, write_tables

    labels = None if args.labels is None else [None if label == "-" else label for label in args.labels]
    results = merge_runs(args.runs, labels=labels, seeds=args.seeds, models=args.models)
    caption = f"Test set, mean ± sample std over seeds; runs from {', '.join(args.runs)}."
    if args.out:
        caption += f"\n\n{_command_line(args)}"
        for path in write_tables(args.out, results, caption):
            print(f"wrote {path}", file=sys.stderr)
    print(markdown_table(summary_rows(results), caption))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recbole_unisrec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    conv = commands.add_parser("convert", help="turn a source into the project's atomic files")
    conv.add_argument("source", choices=["shared", "amazon2018", "online-retail", "table", "unisrec-files"])
    conv.add_argument("--name", help="data set name (shared: one of the canonical names)")
    conv.add_argument("--all", action="store_true", help="shared: convert every shared data set")
    conv.add_argument("--shared-root", default=str(SHIPPED_DATA.parent.parent / "shared" / "data"))
    conv.add_argument("--ratings", help="amazon2018: ratings CSV (item,user,rating,time)")
    conv.add_argument("--meta", help="amazon2018: meta_<Category>.json.gz")
    conv.add_argument("--csv", help="online-retail: the raw CSV")
    conv.add_argument("--encoding", default="utf-8", help="online-retail: CSV encoding (the full UCI file is latin-1)")
    conv.add_argument("--interactions", help="table: interaction log (.csv, .tsv or .jsonl, optionally .gz)")
    conv.add_argument("--items", help="table: item table (same formats)")
    conv.add_argument("--user-col", default="user_id", help="table: user column of the interaction log")
    conv.add_argument("--item-col", default="item_id", help="table: item column of the interaction log")
    conv.add_argument("--time-col", default=None, help="table: time column (numbers or ISO-8601); none: file order")
    conv.add_argument("--items-key-col", default="item_id", help="table: item key column of the item table")
    conv.add_argument("--text-cols", default="title", help="table: comma-separated text columns, joined in order")
    conv.add_argument("-k", type=int, default=5, help="k-core filter for raw sources (default 5)")
    conv.add_argument("--out", default=str(SHIPPED_DATA), help="folder that receives <Name>/")
    conv.add_argument("--pack", action="store_true", help="gzip the .inter files, as shipped in dataset/")
    conv.add_argument("--src", help="unisrec-files: the original code's processed folder holding NAME.train.inter ...")
    conv.add_argument("--plm-suffix", default=DEFAULT_PLM_SUFFIX, help="unisrec-files: the text vectors NAME.<suffix> to import")
    conv.add_argument("--force", action="store_true", help="unisrec-files: replace an existing OUT/NAME")
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
    enc.add_argument("--device", default="cpu", help="where the language model runs: cpu, cuda, cuda:1 ...")
    enc.add_argument("--word-drop", type=float, default=0.0, help="encode the word-dropped copy with this ratio")
    enc.add_argument("--seed", type=int, default=2022)
    enc.set_defaults(run=_encode)

    rec = commands.add_parser("recommend", help="recommend from a trained checkpoint; the catalog may hold new items")
    rec.add_argument("--checkpoint", required=True, help="a UniSRec checkpoint (.pth)")
    source = rec.add_mutually_exclusive_group(required=True)
    source.add_argument("--catalog", help="catalog TSV: item_id<TAB>text per line, optional header line")
    source.add_argument("-d", "--dataset", help="use a data set's items (raw ids) as the catalog")
    rec.add_argument("--data-root", default=str(SHIPPED_DATA), help="where --dataset lives")
    rec.add_argument("--add-items", help="a further catalog TSV of new items, added after the catalog")
    which = rec.add_mutually_exclusive_group(required=True)
    which.add_argument("--history", help='item ids, oldest first, e.g. "id1 id2 id3"')
    which.add_argument("--histories", help="file: one history per line ('id1 id2 ...' or 'user<TAB>id1 id2 ...')")
    rec.add_argument("-o", "--output", help="with --histories: output TSV (user, rank, item_id, score, text_only)")
    rec.add_argument("-k", type=int, default=10, help="items per history (default 10)")
    rec.add_argument("--include-history", action="store_true", help="allow items of the history in the results")
    rec.add_argument("--text-encoder", default=None, help="a local copy of the checkpoint's text encoder")
    rec.add_argument("--no-id-vectors", action="store_true", help="transductive checkpoints: score on text only")
    rec.add_argument("--json", action="store_true", help="with --history: print JSON instead of a table")
    rec.set_defaults(run=_recommend)

    ev = commands.add_parser("evaluate", help="full-ranking metrics of a checkpoint (zero-shot for a pre-trained one)")
    ev.add_argument("-p", "--checkpoint", required=True, help="any checkpoint this project (or RecBole) saved")
    ev.add_argument("-d", "--dataset", default=None, help="data set (default: the checkpoint's own)")
    ev.add_argument("--data-root", default=None, help="folder holding the data set (default: the checkpoint's, else dataset/)")
    ev.add_argument("--split", default="test", choices=["test", "valid"])
    ev.add_argument("--topk", type=int, nargs="+", default=None, metavar="K",
                    help="cut-offs (default: the checkpoint's topk; 10 50 for the shipped ones)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(run=_evaluate)

    curve = commands.add_parser("plot-transfer", help="chart and table of pre-training loss and zero-shot NDCG@10")
    curve.add_argument("csv", nargs="+", help="UniSRec-<corpus>-transfer.csv files written by run_pretrain.py")
    curve.add_argument("--labels", nargs="+", default=None, help="one label per file (default: its folder name)")
    curve.add_argument("--out", required=True, help="writes OUT.md and OUT.png")
    curve.add_argument("--caption", default="", help="text above the table (the command that made it follows)")
    curve.add_argument("--title", default="", help="title of the chart")
    curve.set_defaults(run=_plot_transfer)

    table = commands.add_parser("table", help="one table (mean ± std over seeds) from several run_compare runs files")
    table.add_argument("runs", nargs="+", help="<out>.runs.csv files written by run_compare.py")
    table.add_argument("--seeds", nargs="+", type=int, default=None, help="keep only these seeds")
    table.add_argument("--models", nargs="+", default=None,
                       help="keep only models whose names in the runs files match one of these patterns "
                            "('*' for any text, e.g. 'UniSRec@*-e1.pth:*')")
    table.add_argument("--labels", nargs="+", default=None,
                       help="one row label per file ('-' keeps the file's own; a file of several models prefixes them)")
    table.add_argument("--out", default=None, help="also write OUT.md, OUT.csv and OUT.runs.csv (the merged runs)")
    table.set_defaults(run=_table)

    imp = commands.add_parser("import-checkpoint", help="rewrite a checkpoint of the original UniSRec code in this "
                                                        "project's format (read without running its code)")
    imp.add_argument("source", help="a .pth written by the original pretrain.py or finetune.py")
    imp.add_argument("output", help="the checkpoint to write (loads with torch.load(weights_only=True))")
    imp.set_defaults(run=_import_checkpoint)

    slim = commands.add_parser("slim", help="copy a checkpoint without its optimizer and resume state, for "
                                            "fine-tuning, evaluation and serving (a third of the size)")
    slim.add_argument("source", help="a checkpoint of this project or RecBole (.pth)")
    slim.add_argument("output", help="the slim checkpoint to write")
    slim.set_defaults(run=_slim)
    return parser


def main(argv: list[str] | None = None) -> int:
    import recbole_unisrec  # noqa: F401  (compat fixes)

    from recbole_unisrec.cli import is_user_error, one_line

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result = args.run(args)
    except Exception as error:  # a user's mistake is one line (the traceback with --debug); a bug is raised
        if not is_user_error(error):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    if result is not None:  # a command that printed its own output returns None
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
