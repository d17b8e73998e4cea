"""Sources with ``user item item ...`` sequence lines: the P5 splits (Beauty, Toys, Yelp) and MicroLens.

P5 folders hold ``sequential_data.txt`` (one user per line, items in time order),
``id2title.tsv`` (``item_id<TAB>title``) and ``id2category.jsonl`` (``{"item_id": 0,
"category": ...}``, a list of category paths for Amazon, a flat list for Yelp). Raw ids are the
integer ids of the files; users keep file order.
"""
from __future__ import annotations

import json
from pathlib import Path

from recbole_unisrec.data.convert.common import SequenceData, join_text_fields, parse_int, put_unique, read_rows, read_texts
from recbole_unisrec.fileio import DataFormatError, read_lines


def read_sequences(path: Path, allow_no_items: bool = False) -> dict[str, tuple[int, list[str]]]:
    """``{user: (line, items)}`` from ``user item item ...`` lines (ids must be integers, users unique).

    ``allow_no_items``: a line may hold a user id alone (that user has no items in this file).
    """
    sequences: dict[str, tuple[int, list[str]]] = {}
    for number, line in read_lines(path):
        tokens = line.split()
        if not tokens:
            raise DataFormatError(path, "blank line (expected a user id and items)", number)
        if len(tokens) == 1 and not allow_no_items:
            raise DataFormatError(path, "user has no items", number)
        for position, token in enumerate(tokens):
            parse_int(token, path, number, "item id" if position else "user id")
        put_unique(sequences, tokens[0], (number, tokens[1:]), path, number, "user")
    if not sequences:
        raise DataFormatError(path, "no sequences")
    return sequences


def read_categories(path: Path) -> dict[str, list[str]]:
    """``{item id: category names}``: every path's names in order, each name once."""
    categories: dict[str, list[str]] = {}
    for number, line in read_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"bad JSON ({error.msg} at column {error.colno})", number) from None
        item = record.get("item_id") if isinstance(record, dict) else None
        if isinstance(item, bool) or not isinstance(item, int):
            raise DataFormatError(path, "expected an object with an integer 'item_id'", number)
        names: list[str] = []
        for entry in record.get("category", []):
            for name in entry if isinstance(entry, list) else [entry]:
                if not isinstance(name, str):
                    raise DataFormatError(path, "'category' must hold strings or lists of strings", number)
                if name not in names:
                    names.append(name)
        put_unique(categories, str(item), names, path, number, "item id")
    return categories


def _load_p5(folder: Path, name: str, category_sep: str) -> SequenceData:
    sequences = read_sequences(folder / "sequential_data.txt")
    titles = read_texts(folder / "id2title.tsv", header=("item_id", "title"))
    categories = read_categories(folder / "id2category.jsonl")
    texts = {
        item: join_text_fields(title, category_sep.join(categories.get(item, []))) if title.strip() else ""
        for item, title in titles.items()
    }
    return SequenceData(name, [(user, items) for user, (_, items) in sequences.items()], texts, str(folder / "id2title.tsv"))


def load_beauty(folder: Path) -> SequenceData:
    """Amazon 2014 Beauty (P5): text ``title. category path.`` (all paths' names, space-joined)."""
    return _load_p5(folder, "Beauty", " ")


def load_toys(folder: Path) -> SequenceData:
    """Amazon 2014 Toys and Games (P5): as Beauty."""
    return _load_p5(folder, "Toys", " ")


def load_yelp(folder: Path) -> SequenceData:
    """Yelp (P5): text ``business name. category, category, ....``"""
    return _load_p5(folder, "Yelp", ", ")


def load_microlens(folder: Path) -> SequenceData:
    """MicroLens-50k: a user's train, valid and test items concatenated (valid/test may be empty).

    Every user must have a line in the train file (471 users' train lines are empty: their
    items are all in valid/test). Raw item ids are the ``seq_item_id`` of
    ``seqid2title.tsv``, whose title is the text.
    """
    train_path = folder / "sequential_train.txt"
    sequences = {user: items for user, (_, items) in read_sequences(train_path, allow_no_items=True).items()}
    for split in ("valid", "test"):
        path = folder / f"sequential_{split}.txt"
        for user, (number, items) in read_sequences(path, allow_no_items=True).items():
            if user not in sequences:
                raise DataFormatError(path, f"user {user} has no line in {train_path.name}", number)
            sequences[user] = sequences[user] + items
    texts = {}
    title_path = folder / "seqid2title.tsv"
    for number, (item, _, title) in read_rows(title_path, 3, header=("seq_item_id", "microlens_item_id", "title")):
        put_unique(texts, item, title, title_path, number, "item id")
    return SequenceData("MicroLens", list(sequences.items()), texts, str(title_path))
