"""MovieLens 100K as RecBole atomic files (``ml-100k.inter``, ``ml-100k.item``).

Every rating is an interaction (the rating value is not used). A user's items are sorted by
timestamp, same-second items by item id (numerically), so the order never depends on file order.
Users are ordered by user id (numerically). Item text is
``join_text_fields(movie_title, release_year, class)``: ``Toy Story. 1995. Animation Children's Comedy.``
Columns are found by their header names, so extra or reordered columns are fine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from recbole_unisrec.data.convert.common import SequenceData, join_text_fields, parse_float, parse_int, put_unique
from recbole_unisrec.fileio import DataFormatError, read_lines


def read_atomic(path: Path, needed: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, values of the needed columns)`` from a RecBole atomic file with a header."""
    lines = read_lines(path)
    first = next(lines, None)
    if first is None:
        raise DataFormatError(path, "empty file (no header)")
    header = first[1].split("\t")
    missing = [name for name in needed if name not in header]
    if missing:
        raise DataFormatError(path, f"header lacks column(s) {', '.join(missing)}", 1)
    positions = [header.index(name) for name in needed]
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataFormatError(path, f"expected {len(header)} tab-separated columns, found {len(fields)}", number)
        yield number, [fields[position] for position in positions]


def load_ml100k(folder: Path) -> SequenceData:
    inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
    events: dict[int, list[tuple[float, int]]] = {}
    for number, (user, item, timestamp) in read_atomic(inter_path, ("user_id:token", "item_id:token", "timestamp:float")):
        events.setdefault(parse_int(user, inter_path, number, "user id"), []).append(
            (parse_float(timestamp, inter_path, number, "timestamp"), parse_int(item, inter_path, number, "item id")))
    if not events:
        raise DataFormatError(inter_path, "no interactions")

    texts: dict[str, str] = {}
    columns = ("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq")
    for number, (item, title, year, genres) in read_atomic(item_path, columns):
        key = str(parse_int(item, item_path, number, "item id"))
        put_unique(texts, key, join_text_fields(title, year, genres) if title.strip() else "", item_path, number, "item id")

    sequences = [(str(user), [str(item) for _, item in sorted(events[user])]) for user in sorted(events)]
    return SequenceData("ML-100k", sequences, texts, str(item_path))
