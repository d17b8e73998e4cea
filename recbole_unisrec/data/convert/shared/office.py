"""Amazon 2014 Office Products 5-core in ReChorus' format.

``train.csv`` (``user_id item_id time``), ``dev.csv`` and ``test.csv`` (``user_id item_id time
neg_items``, one row per user; ``neg_items`` is ignored), all tab-separated with integer ids and
times. A user's sequence is its train rows by time (same-time rows keep file order), then its
dev item, then its test item. Users are ordered by user id (numerically).

Item ids map to ASINs through ``Office.item2index`` (``ASIN<TAB>item_id``); raw item ids in the
output are the ASINs. Text comes from ``Office.text`` (ASIN -> ``title category brand``, as the
UniSRec authors prepared it). ``Office.item.json`` also holds titles, descriptions, brands and
categories, but its keys (``"0"``..``"2419"``) are neither the item ids nor ``item_id - 1``
(matching its titles against ``Office.text`` gives an unrelated permutation, and about 180 titles
match no item after the authors' cleaning), so it cannot be tied to the items and is not used.
"""
from __future__ import annotations

from pathlib import Path

from recbole_unisrec.data.convert.common import SequenceData, parse_int, put_unique, read_rows, read_texts
from recbole_unisrec.fileio import DataFormatError


def load_office(folder: Path) -> SequenceData:
    asin_of: dict[int, str] = {}
    index_path = folder / "Office.item2index"
    seen: dict[str, int] = {}
    for number, (asin, item) in read_rows(index_path, 2):
        put_unique(seen, asin, number, index_path, number, "ASIN")
        put_unique(asin_of, parse_int(item, index_path, number, "item id"), asin, index_path, number, "item id")

    def asin(item: str, path: Path, number: int) -> str:
        item_id = parse_int(item, path, number, "item id")
        if item_id not in asin_of:
            raise DataFormatError(path, f"item id {item_id} is not in {index_path.name}", number)
        return asin_of[item_id]

    train: dict[int, list[tuple[int, str]]] = {}
    train_path = folder / "train.csv"
    for number, (user, item, time) in read_rows(train_path, 3, header=("user_id", "item_id", "time")):
        train.setdefault(parse_int(user, train_path, number, "user id"), []).append(
            (parse_int(time, train_path, number, "time"), asin(item, train_path, number)))
    if not train:
        raise DataFormatError(train_path, "no interactions")

    last: list[dict[int, str]] = []
    for name in ("dev.csv", "test.csv"):
        path, rows = folder / name, {}
        for number, (user, item, time, _) in read_rows(path, 4, header=("user_id", "item_id", "time", "neg_items")):
            parse_int(time, path, number, "time")
            put_unique(rows, parse_int(user, path, number, "user id"), asin(item, path, number), path, number, "user")
        last.append(rows)

    sequences = []
    for user in sorted(train.keys() | last[0].keys() | last[1].keys()):
        items = [item for _, item in sorted(train.get(user, []), key=lambda event: event[0])]
        items += [rows[user] for rows in last if user in rows]
        sequences.append((str(user), items))
    texts = read_texts(folder / "Office.text", header=("id", "text"))
    return SequenceData("Office", sequences, texts, str(folder / "Office.text"))
