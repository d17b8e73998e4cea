"""Any interaction log plus any item table -> :class:`SequenceData` (``convert table``).

Inputs: CSV (``.csv``), TSV (``.tsv``) or JSON Lines (``.jsonl``, ``.ndjson``), each optionally
gzipped (``.gz``), recognised by extension. CSV and TSV need a header row and may quote fields
(commas, tabs and newlines inside quotes are read as text); JSON Lines hold one object per line.
Ids are strings or integers without whitespace (surrounding spaces are stripped).

Rules, in order:

1. **Item text**: the ``text_columns`` of the item table joined in the given order by
   :func:`join_text_fields` ("title. category. brand."). A key listed twice is an error.
2. Interactions whose item has no row in the item table, or an empty joined text, are dropped.
3. Exact duplicates (same user, item and time) are dropped; the first in file order stays.
4. **Order**: each user's items by time, ties by file order. Without a time column, file order
   is time. Times are numbers (epoch seconds, milliseconds, ... -- only their order matters) or
   ISO-8601 dates; a date without a time zone is read as UTC.
5. **k-core**: users with fewer than ``max(k, 3)`` and items with fewer than ``k`` interactions
   are dropped repeatedly until none is left (``k=0``: only the leave-one-out minimum of 3).

Users keep the order of their first interaction in the file. Each row is reduced to integer
codes as it is read, and steps 2-5 run on numpy arrays, so memory grows with the number of
distinct ids, not with Python objects per row.
"""
from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from array import array
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from recbole_unisrec.data.convert.common import (MIN_SEQUENCE_LENGTH, SequenceData, join_text_fields, put_unique,
                                                 read_json_objects)
from recbole_unisrec.fileio import DataFormatError, read_lines

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SUPPORTED = "expected .csv, .tsv or .jsonl, each optionally .gz"
_BAD_GZIP = (gzip.BadGzipFile, EOFError, zlib.error)

DROP_NO_ITEM_ROW = "item_not_in_item_table"
DROP_EMPTY_TEXT = "item_text_empty"
DROP_DUPLICATE = "duplicate"
DROP_K_CORE = "k_core"


def table_format(path: str | os.PathLike) -> str:
    """``csv``, ``tsv`` or ``jsonl`` from the file name (a ``.gz`` ending is looked through)."""
    suffixes = Path(path).suffixes
    if suffixes and suffixes[-1] == ".gz":  # as fileio.read_lines decides
        suffixes.pop()
    suffix = suffixes[-1].lower() if suffixes else ""
    if suffix in FORMATS:
        return FORMATS[suffix]
    if suffix == ".parquet":
        raise DataFormatError(path, f"Parquet is not supported (it would need pyarrow); {_SUPPORTED}")
    raise DataFormatError(path, f"unknown format {suffix or '(no extension)'!r}; {_SUPPORTED}")


def read_records(path: str | os.PathLike, columns: Sequence[str]) -> Iterator[tuple[int, tuple]]:
    """Yield ``(line, values of columns)`` for every record of a CSV, TSV or JSON Lines file.

    ``line`` is the record's first line. A missing column (naming the header or keys found), a
    row with another number of fields than the header, bad UTF-8 or bad gzip is a
    :class:`DataFormatError` naming file and line.
    """
    path = Path(path)
    kind = table_format(path)
    try:
        if kind == "jsonl":
            yield from _json_records(path, columns)
        else:
            yield from _delimited_records(path, "," if kind == "csv" else "\t", columns)
    except _BAD_GZIP as error:
        raise DataFormatError(path, f"not a readable gzip file ({error})") from None


def _delimited_records(path: Path, delimiter: str, columns: Sequence[str]) -> Iterator[tuple[int, tuple]]:
    # the csv module needs the line ends to keep newlines inside quoted fields
    reader = csv.reader((line + "\n" for _, line in read_lines(path)), delimiter=delimiter)
    start = 1
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        if not header:
            raise DataFormatError(path, "empty file: expected a header row", 1)
        missing = [column for column in columns if column not in header]
        if missing:
            raise DataFormatError(path, f"no column {missing[0]!r}; the header has {', '.join(header)}", 1)
        positions = [header.index(column) for column in columns]
        width = len(header)
        start = reader.line_num + 1
        for row in reader:
            if len(row) != width:
                if row:
                    raise DataFormatError(path, f"expected {width} fields as in the header, found {len(row)}", start)
            else:
                yield start, tuple(row[position] for position in positions)
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataFormatError(path, f"bad {'CSV' if delimiter == ',' else 'TSV'} ({error})", start) from None


def _json_records(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, tuple]]:
    for number, record in read_json_objects(path):
        missing = [column for column in columns if column not in record]
        if missing:
            raise DataFormatError(path, f"no column {missing[0]!r}; the record has {', '.join(record) or 'no keys'}", number)
        yield number, tuple(record[column] for column in columns)


def parse_time(value: object, path: str | os.PathLike, line: int, column: str) -> float:
    """A number (as is) or an ISO-8601 date (epoch seconds, UTC when no zone is given)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = value.strip() if isinstance(value, str) else ""
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise DataFormatError(path, f"column {column!r}: {str(value)[:50]!r} is neither a number nor an ISO-8601 date",
                                      line) from None
            number = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    if not math.isfinite(number):
        raise DataFormatError(path, f"column {column!r}: {value!r} is not a finite time", line)
    return number


def _id_text(value: object, path: str | os.PathLike, line: int, column: str) -> str:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif value is None:
        text = ""
    else:
        raise DataFormatError(path, f"column {column!r}: expected a string or integer id, found {type(value).__name__}", line)
    if not text:
        raise DataFormatError(path, f"column {column!r}: empty id", line)
    return text


def _field_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_field_text(part) for part in value)
    return str(value)


class _IdCodes:
    """Raw ids to 0-based integer codes, in order of first appearance."""

    def __init__(self, path: Path, column: str):
        self.path, self.column = path, column
        self.codes: dict[str, int] = {}
        self.names: list[str] = []

    def code(self, value: object, line: int) -> int:
        text = _id_text(value, self.path, line, self.column)
        code = self.codes.get(text)
        if code is None:
            if any(char.isspace() for char in text):
                raise DataFormatError(self.path, f"column {self.column!r}: id {text[:50]!r} contains whitespace", line)
            code = self.codes[text] = len(self.names)
            self.names.append(text)
        return code


def load_item_texts(path: str | os.PathLike, key_column: str, text_columns: Sequence[str]) -> dict[str, str]:
    """Item key -> joined text (possibly empty) for every row of the item table."""
    if not text_columns:
        raise ValueError("--text-cols needs at least one column")
    path = Path(path)
    texts: dict[str, str] = {}
    for line, (key, *fields) in read_records(path, [key_column, *text_columns]):
        text = join_text_fields(*(_field_text(value) for value in fields))
        put_unique(texts, _id_text(key, path, line, key_column), text, path, line, f"{key_column!r} key")
    return texts


def load_table(
    interactions: str | os.PathLike,
    items: str | os.PathLike,
    name: str,
    user_column: str = "user_id",
    item_column: str = "item_id",
    time_column: str | None = None,
    item_key_column: str = "item_id",
    text_columns: Sequence[str] = ("title",),
    k: int = 5,
) -> SequenceData:
    """Read an interaction log and an item table and reduce them by the module's rules."""
    if k < 0:
        raise ValueError(f"-k must be 0 or more, got {k}")
    interactions, items = Path(interactions), Path(items)
    table_format(interactions)
    texts = load_item_texts(items, item_key_column, text_columns)

    users, item_codes = _IdCodes(interactions, user_column), _IdCodes(interactions, item_column)
    user_array, item_array, time_array = array("i"), array("i"), array("d")
    columns = [user_column, item_column] + ([time_column] if time_column else [])
    for line, (user, item, *when) in read_records(interactions, columns):
        user_array.append(users.code(user, line))
        item_array.append(item_codes.code(item, line))
        time_array.append(parse_time(when[0], interactions, line, time_column) if when else len(time_array))
    if not user_array:
        raise DataFormatError(interactions, "no interactions")
    user_of = np.frombuffer(user_array, dtype=np.int32)
    item_of = np.frombuffer(item_array, dtype=np.int32)
    time_of = np.frombuffer(time_array, dtype=np.float64)

    text_of_item = [texts.get(raw) for raw in item_codes.names]
    no_row = np.array([text is None for text in text_of_item], dtype=bool)[item_of]
    empty_text = np.array([text == "" for text in text_of_item], dtype=bool)[item_of]
    dropped = {DROP_NO_ITEM_ROW: int(no_row.sum()), DROP_EMPTY_TEXT: int(empty_text.sum())}
    rows = np.flatnonzero(~(no_row | empty_text))

    deduplicated = _drop_duplicates(rows, user_of, item_of, time_of)
    dropped[DROP_DUPLICATE] = len(rows) - len(deduplicated)
    rows = deduplicated[k_core_mask(user_of[deduplicated], item_of[deduplicated], max(k, MIN_SEQUENCE_LENGTH), k)]
    dropped[DROP_K_CORE] = len(deduplicated) - len(rows)
    if not len(rows):
        raise DataFormatError(interactions, f"no user keeps {max(k, MIN_SEQUENCE_LENGTH)} or more interactions after the filters"
                                            f" (dropped rows: {dropped})")

    rows = rows[np.lexsort((time_of[rows], user_of[rows]))]  # stable: ties stay in file order
    sequences = _sequences(user_of[rows], item_of[rows], users.names, item_codes.names)
    used = {item for _, sequence in sequences for item in sequence}
    return SequenceData(name=name, sequences=sequences, texts={item: texts[item] for item in used},
                        text_source=str(items), dropped_rows=dropped)


def _drop_duplicates(rows: np.ndarray, user_of: np.ndarray, item_of: np.ndarray, time_of: np.ndarray) -> np.ndarray:
    """``rows`` (ascending) without repeats of an earlier row's (user, item, time)."""
    order = rows[np.lexsort((time_of[rows], item_of[rows], user_of[rows]))]  # stable: first in file order leads
    users, items, times = user_of[order], item_of[order], time_of[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = (users[1:] == users[:-1]) & (items[1:] == items[:-1]) & (times[1:] == times[:-1])
    return np.sort(order[~repeat])


def k_core_mask(users: np.ndarray, items: np.ndarray, user_min: int, item_min: int) -> np.ndarray:
    """Which interactions survive dropping users with < ``user_min`` and items with < ``item_min``
    interactions, repeated until nothing changes (integer codes, numpy)."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        user_count = np.bincount(users[keep], minlength=int(users.max(initial=-1)) + 1)
        item_count = np.bincount(items[keep], minlength=int(items.max(initial=-1)) + 1)
        survivors = keep & (user_count[users] >= user_min) & (item_count[items] >= item_min)
        if survivors.sum() == keep.sum():
            return keep
        keep = survivors


def _sequences(users: np.ndarray, items: np.ndarray, user_names: list[str], item_names: list[str]) -> list[tuple[str, list[str]]]:
    """Per-user raw item lists from code arrays grouped by user."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    return [(user_names[users[start]], [item_names[code] for code in items[start:end].tolist()])
            for start, end in zip(starts.tolist(), ends.tolist())]
