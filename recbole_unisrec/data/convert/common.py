"""The project's atomic-file layout, written from per-user item sequences.

Every converter reduces its source to :class:`SequenceData` (users with chronologically ordered
items, and a text for every item) and calls :func:`write_dataset`. The layout, per data set
``<Name>`` in folder ``<out_root>/<Name>/``:

``<Name>.{train,valid,test}.inter``
    RecBole atomic files with ``user_id:token``, ``item_id_list:token_seq`` and ``item_id:token``.
    Leave-one-out: the last item is the test target, the second last the validation target, and
    the training file holds every earlier prefix (longest first, as the paper's released
    Scientific files do). Histories are truncated to the last ``max_seq_len`` items.
``<Name>.text``
    ``item_id:token`` (raw id) and ``text:token_seq`` (cleaned text), one row per item.
``<Name>.item2index`` / ``<Name>.user2index``
    raw id, tab, the index used in the ``.inter`` files (0-based, in order of first appearance).
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Hashable, Iterable, Iterator, Sequence

from recbole_unisrec.fileio import DataFormatError, atomic_directory, read_lines

INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token"
TEXT_HEADER = "item_id:token\ttext:token_seq"
MIN_SEQUENCE_LENGTH = 3  # one training target, one validation target, one test target

_WHITESPACE = re.compile(r"\s+")


def clean_text(raw: str) -> str:
    """HTML-unescape and collapse all whitespace (tabs and newlines included) to single spaces."""
    return _WHITESPACE.sub(" ", html.unescape(raw)).strip()


def join_text_fields(*fields: str) -> str:
    """The paper's item text: the non-empty cleaned fields, each ending with a full stop."""
    parts = []
    for value in fields:
        value = clean_text(value or "")
        if value:
            parts.append(value if value.endswith(".") else value + ".")
    return " ".join(parts)


@dataclass
class SequenceData:
    """A data set reduced to what the layout needs.

    ``sequences`` keeps users in output order, each with raw item ids in time order;
    ``texts`` maps raw item id to cleaned text; ``text_source`` names the file texts came from,
    for error messages; ``dropped_rows`` counts the source rows a converter left out, by reason.
    """

    name: str
    sequences: list[tuple[str, list[str]]]
    texts: dict[str, str]
    text_source: str = "item text"
    dropped_users: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetStats:
    users: int
    items: int
    interactions: int
    dropped_users: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, int]:
        return {"users": self.users, "items": self.items, "interactions": self.interactions}


def dataset_files(name: str) -> list[str]:
    return [f"{name}.{suffix}" for suffix in ("train.inter", "valid.inter", "test.inter", "text", "item2index", "user2index")]


def write_dataset(data: SequenceData, out_root: str | os.PathLike, max_seq_len: int = 50) -> DatasetStats:
    """Write ``data`` as ``<out_root>/<name>/`` in the atomic-file layout, whole or not at all.

    Users with fewer than three items cannot be split leave-one-out and are dropped (counted).
    """
    if not data.name or not re.fullmatch(r"[A-Za-z0-9_.-]+", data.name):
        raise ValueError(f"data set name {data.name!r} must be letters, digits, '_', '-' or '.'")
    kept = [(user, items) for user, items in data.sequences if len(items) >= MIN_SEQUENCE_LENGTH]
    if not kept:
        raise DataFormatError(data.text_source, f"data set {data.name} has no user with {MIN_SEQUENCE_LENGTH} or more interactions")

    user_index: dict[str, int] = {}
    item_index: dict[str, int] = {}
    for user, items in kept:
        if user in user_index:
            raise ValueError(f"{data.name}: user {user!r} appears twice")
        user_index[user] = len(user_index)
        for item in items:
            if item not in item_index:
                text = data.texts.get(item, "")
                if not text.strip():
                    raise DataFormatError(data.text_source, f"item {item!r} has no text")
                item_index[item] = len(item_index)

    def split_rows(split: str) -> Iterator[str]:
        yield INTER_HEADER
        for user, items in kept:
            uid = user_index[user]
            ids = [str(item_index[item]) for item in items]
            n = len(ids)
            targets = range(n - 3, 0, -1) if split == "train" else (n - 2,) if split == "valid" else (n - 1,)
            for target in targets:
                yield f"{uid}\t{' '.join(ids[max(0, target - max_seq_len):target])}\t{ids[target]}"

    name = data.name
    with atomic_directory(Path(out_root) / name) as folder:
        for split in ("train", "valid", "test"):  # rows are generated as written: memory stays per user
            _write_lines(folder / f"{name}.{split}.inter", split_rows(split))
        _write_lines(folder / f"{name}.text", chain([TEXT_HEADER], (f"{item}\t{clean_text(data.texts[item])}" for item in item_index)))
        _write_lines(folder / f"{name}.item2index", (f"{item}\t{index}" for item, index in item_index.items()))
        _write_lines(folder / f"{name}.user2index", (f"{user}\t{index}" for user, index in user_index.items()))
    interactions = sum(len(items) for _, items in kept)
    return DatasetStats(len(user_index), len(item_index), interactions, data.dropped_users + len(data.sequences) - len(kept),
                        dict(data.dropped_rows))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")


# --- small parsing helpers shared by the converters -------------------------------------------

_INTEGER = re.compile(r"-?[0-9]+")


def read_rows(path: str | os.PathLike, columns: int, header: Sequence[str] | bool = False, sep: str = "\t") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every data line of a ``sep``-separated file.

    Each line must have exactly ``columns`` fields. ``header`` is ``False`` (no header line),
    ``True`` (skip the first line, whatever it says) or the exact field names of the first line.
    """
    for number, line in read_lines(path):
        if number == 1 and header is not False:
            if header is not True and line.split(sep) != list(header):
                raise DataFormatError(path, f"expected header {sep.join(header)!r}, found {line[:200]!r}", number)
            continue
        fields = line.split(sep)
        if len(fields) != columns:
            raise DataFormatError(path, f"expected {columns} {_sep_name(sep)}-separated columns, found {len(fields)}", number)
        yield number, fields


def _sep_name(sep: str) -> str:
    return {"\t": "tab", " ": "space", ",": "comma"}.get(sep, repr(sep))


def parse_int(value: str, path: str | os.PathLike, line: int, what: str = "id") -> int:
    """``value`` as an integer (digits, optional minus sign), else :class:`DataFormatError`."""
    if not _INTEGER.fullmatch(value):
        raise DataFormatError(path, f"{what} {value[:50]!r} is not an integer", line)
    return int(value)


def parse_float(value: str, path: str | os.PathLike, line: int, what: str = "timestamp") -> float:
    """``value`` as a finite number, else :class:`DataFormatError`."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not value.strip():
        raise DataFormatError(path, f"{what} {value[:50]!r} is not a number", line)
    return number


def put_unique(mapping: dict[Any, Any], key: Hashable, value: Any, path: str | os.PathLike, line: int, what: str = "id") -> None:
    """``mapping[key] = value``, or :class:`DataFormatError` if ``key`` is there already."""
    if key in mapping:
        raise DataFormatError(path, f"duplicate {what} {key!r}", line)
    mapping[key] = value


def read_json_objects(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for every non-blank line of a JSON Lines file (plain or ``.gz``)."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"not a JSON object ({error.msg} at column {error.colno})", number) from None
        if not isinstance(record, dict):
            raise DataFormatError(path, f"expected a JSON object, got {type(record).__name__}", number)
        yield number, record


def read_texts(path: str | os.PathLike, header: Sequence[str] | bool = True, sep: str = "\t") -> dict[str, str]:
    """A two-column ``id<sep>text`` file as a dict (duplicate ids are an error)."""
    texts: dict[str, str] = {}
    for number, (key, text) in read_rows(path, 2, header=header, sep=sep):
        put_unique(texts, key, text, path, number, "item id")
    return texts
