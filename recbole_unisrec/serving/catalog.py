"""Catalogs: the catalog file, item rows given in Python, a data set's items, and its item tables.

Catalog file (TSV, UTF-8): one item per line, ``item_id<TAB>text``; the first line may be a
header ``item_id<TAB>text`` (``item_id:token<TAB>text:token_seq``, the header of a data set's
``<Name>.text`` file, works too). Item ids hold no whitespace; texts may not be empty; every id
appears once; blank lines are errors.

A data set's item tables map a checkpoint's learned ID vectors back to raw item ids:
``<Name>.item2index`` (raw id -> ``.inter`` token) and the order in which RecBole numbers the
tokens of the ``.inter`` files (:func:`item_tokens_from_files`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from recbole_unisrec.data.layout import SPLITS, data_file
from recbole_unisrec.fileio import DataFormatError, read_lines
from recbole_unisrec.serving.errors import EncoderMismatchError, ServingError
from recbole_unisrec.text.encoder import EncoderSpec, ModelLoadError

PAD_TOKEN = "[PAD]"

ItemRows = Iterable[tuple[str, str]] | Mapping[str, str]
"""Items given in Python: (item id, text) pairs or a mapping of id to text."""

CatalogSource = ItemRows | str | os.PathLike
"""A whole catalog: item rows, a catalog TSV path, or a data set name."""

_HEADER_NAMES = ("item_id", "text")


def read_catalog(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(item_id, text)`` rows of a catalog TSV (see the module docstring for the format).

    Raises :class:`DataFormatError` naming file and line for a malformed, empty or duplicate row.
    """
    path = Path(path)
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        fields = line.split("\t", 1)
        if number == 1 and tuple(f.split(":", 1)[0].strip().lower() for f in fields) == _HEADER_NAMES:
            continue
        if not line.strip():
            raise DataFormatError(path, "empty row (expected 'item_id<TAB>text')", number)
        if len(fields) != 2:
            raise DataFormatError(path, f"expected 'item_id<TAB>text', got {line[:80]!r}", number)
        item_id, text = fields[0].strip(), fields[1].strip()
        problem = _row_problem(item_id, text)
        if problem:
            raise DataFormatError(path, problem, number)
        if item_id in seen:
            raise DataFormatError(path, f"duplicate item id {item_id!r} (first on line {seen[item_id]})", number)
        seen[item_id] = number
        rows.append((item_id, text))
    if not rows:
        raise DataFormatError(path, "no items")
    return rows


def _row_problem(item_id: str, text: str) -> str | None:
    if not item_id:
        return "empty item id"
    if any(ch.isspace() for ch in item_id):
        return f"item id {item_id[:50]!r} contains whitespace"
    if not text:
        return f"item {item_id!r} has an empty text"
    return None


def as_rows(items: ItemRows) -> list[tuple[str, str]]:
    """Normalise (id, text) pairs or a mapping; each problem is a one-line :class:`ServingError`."""
    if isinstance(items, (str, bytes)):
        raise ServingError("items must be (item id, text) pairs or a mapping of id to text, not a string")
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = []
    for position, pair in enumerate(pairs):
        try:
            item_id, text = pair
        except (TypeError, ValueError):
            raise ServingError(f"item row {position}: expected an (item id, text) pair, got {pair!r:.80}") from None
        if item_id is None or text is None:
            raise ServingError(f"item row {position}: empty row {pair!r:.80}")
        item_id, text = str(item_id).strip(), " ".join(str(text).split())
        problem = _row_problem(item_id, text)
        if problem:
            raise ServingError(f"item row {position}: {problem}")
        rows.append((item_id, text))
    return rows


def new_item_rows(items: ItemRows) -> list[tuple[str, str]]:
    """:func:`as_rows` of items to add: at least one, and no id twice."""
    rows = as_rows(items)
    if not rows:
        raise ServingError("no items to add")
    seen: dict[str, int] = {}
    for position, (item_id, _) in enumerate(rows):
        if item_id in seen:
            raise ServingError(f"item row {position}: duplicate item id {item_id!r} (also row {seen[item_id]})")
        seen[item_id] = position
    return rows


def named_catalog(source: str | os.PathLike, spec: EncoderSpec, data_root: str | os.PathLike | None = None,
                  as_dataset: bool = False) -> tuple[list[tuple[str, str]], np.ndarray | None]:
    """The items of a catalog file, or of a data set under ``data_root`` (default: the shipped
    ``dataset/``) with its cached text vectors (encoded with ``spec`` where not cached yet).

    Returns ``(rows, vectors)``; ``vectors`` is ``None`` for a catalog file. ``as_dataset``:
    ``source`` names a data set, never a file.
    """
    from recbole_unisrec.data.layout import SHIPPED_DATA, known_datasets

    root = Path(data_root) if data_root is not None else SHIPPED_DATA
    name = str(source)
    if not as_dataset and Path(name).is_file():
        return read_catalog(name), None
    if (root / name / f"{name}.item2index").is_file():
        return _dataset_items(root, name, spec)
    what = f"data set {name!r} under {root}" if as_dataset else f"catalog file {name!r} (or a data set {name!r} under {root})"
    raise ServingError(f"no {what}; data sets there: {', '.join(known_datasets(root)) or 'none'}")


def _dataset_items(root: Path, name: str, spec: EncoderSpec) -> tuple[list[tuple[str, str]], np.ndarray]:
    from recbole_unisrec.text.cache import read_item_texts, text_vectors

    ids, texts = read_item_texts(root / name, name)
    try:
        vectors = text_vectors(root, name, spec, show_progress=False)  # cached beside the data
    except ModelLoadError as error:
        raise EncoderMismatchError(f"cannot encode the texts of {name}: {str(error).splitlines()[0]}") from None
    return list(zip(ids, texts)), np.asarray(vectors)


# --------------------------------------------------------------------------------------------
# A data set's item tables
# --------------------------------------------------------------------------------------------

def token_to_raw(folder: Path, name: str) -> dict[str, str]:
    """``.inter`` token -> raw item id, from ``<Name>.item2index`` (empty where it is missing)."""
    path = folder / f"{name}.item2index"
    if not path.is_file():
        return {}
    mapping = {}
    for _, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) == 2 and fields[0] and fields[1]:
            mapping[fields[1]] = fields[0]
    return mapping


def item_tokens_from_files(folder: str | os.PathLike, name: str) -> list[str]:
    """RecBole's internal item id order rebuilt from a data set's ``.inter`` files.

    RecBole (``Dataset._remap``) factorizes the item tokens of the train, valid and test files
    concatenated, first the ``item_id`` column, then the ``item_id_list`` column, in order of first
    appearance, after ``[PAD]``. Used only for checkpoints saved without ``item_tokens``.
    """
    targets: list[str] = []
    lists: list[str] = []
    for split in SPLITS:
        path = data_file(folder, name, f"{split}.inter")
        lines = read_lines(path)
        _, header = next(lines, (1, ""))
        names = [column.split(":", 1)[0] for column in header.split("\t")]
        if "item_id" not in names or "item_id_list" not in names:
            raise DataFormatError(path, "header has no item_id and item_id_list columns", 1)
        target_col, list_col = names.index("item_id"), names.index("item_id_list")
        for _, line in lines:
            fields = line.split("\t")
            if len(fields) == len(names):
                targets.append(fields[target_col])
                lists.extend(fields[list_col].split(" ") if fields[list_col] else [])
    seen = dict.fromkeys(targets + lists)
    return [PAD_TOKEN, *seen]
