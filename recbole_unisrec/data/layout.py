"""Reading side of the atomic-file layout: where a data set lives and its item rows.

Shipped data sets keep their ``.inter`` files gzipped (``dataset/<Name>/<Name>.train.inter.gz``);
RecBole reads plain files, so :func:`ensure_unpacked` writes the plain copies on first use.
"""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from recbole_unisrec.fileio import DataFormatError, atomic_write, beside, read_lines

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DATA = REPO_ROOT / "dataset"
SPLITS = ("train", "valid", "test")


def known_datasets(data_root: str | os.PathLike) -> list[str]:
    """Names of the folders under ``data_root`` that hold a data set in this layout."""
    root = Path(data_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.item2index").is_file())


def data_root_hint(name: str) -> str:
    """How to point a command at the folder that holds data set ``name``: the flag is the same for
    every run script and command."""
    return f"give --data-root DIR if {name}/ is in another folder DIR"


def missing_dataset(data_root: str | os.PathLike, name: str, missing: str) -> FileNotFoundError:
    """The error for data set ``name`` that ``data_root`` lacks (it has no ``missing``): it lists
    the data sets that are there and names the flag for another folder."""
    found = ", ".join(known_datasets(data_root)) or "none"
    return FileNotFoundError(f"data set {name!r} has no {missing}; data sets found in {data_root}: {found}; "
                             f"{data_root_hint(name)}")


def require_dataset(dataset_path: str | os.PathLike, name: str) -> None:
    """Fail, before anything is read, where ``dataset_path`` lacks a split of ``name`` (plain or gzipped)."""
    folder = Path(dataset_path)
    for split in SPLITS:
        plain = folder / f"{name}.{split}.inter"
        if not plain.is_file() and not beside(plain, ".gz").is_file():
            raise missing_dataset(folder.parent, name, f"{plain.name} (or .gz) in {folder}")


def ensure_unpacked(dataset_path: str | os.PathLike, name: str) -> None:
    """Make sure ``<name>.{train,valid,test}.inter`` exist as plain files in ``dataset_path``.

    A missing plain file is unpacked from its ``.gz`` twin (atomically, so a concurrent reader
    never sees half a file). A data set without either raises one clear error.
    """
    require_dataset(dataset_path, name)
    folder = Path(dataset_path)
    for split in SPLITS:
        plain = folder / f"{name}.{split}.inter"
        packed = beside(plain, ".gz")
        if plain.is_file():
            check_inter_file(plain)
            continue
        check_inter_file(packed)
        with gzip.open(packed, "rb") as source, atomic_write(plain, "wb") as target:
            shutil.copyfileobj(source, target)


INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token"


def check_inter_file(path: Path) -> None:
    """A one-line error naming file and line for anything RecBole would misread or choke on."""
    for number, line in read_lines(path):
        if number == 1:
            if line != INTER_HEADER:
                raise DataFormatError(path, f"header must be {INTER_HEADER!r}, got {line!r}", number)
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataFormatError(path, f"expected 3 tab-separated columns, got {len(fields)}", number)
        user, history, target = fields
        if not user.strip() or not target.strip() or " " in user or " " in target:
            raise DataFormatError(path, "user and item must be single non-empty tokens", number)
        if not history or any(not token for token in history.split(" ")):
            raise DataFormatError(path, "item_id_list must be tokens separated by single spaces", number)


def data_file(folder: str | os.PathLike, name: str, suffix: str) -> Path:
    """``<folder>/<name>.<suffix>``, or its ``.gz`` twin where only that exists."""
    plain = Path(folder) / f"{name}.{suffix}"
    packed = beside(plain, ".gz")
    return packed if not plain.is_file() and packed.is_file() else plain


def read_item_index(dataset_path: str | os.PathLike, name: str) -> list[tuple[int, str, str]]:
    """``(line number, raw id, token)`` of every item in ``<name>.item2index``, in text-vector row
    order (the file may be gzipped; blank lines are skipped). A malformed line, a raw id listed
    twice or an empty file is a :class:`DataFormatError` naming file and line."""
    path = data_file(dataset_path, name, "item2index")
    items: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise DataFormatError(path, f"expected 'raw id<TAB>index', got {line[:80]!r}", number)
        raw = fields[0].strip()
        if raw in seen:
            raise DataFormatError(path, f"item {raw!r} already listed on line {seen[raw]}", number)
        seen[raw] = number
        items.append((number, raw, fields[1].strip()))
    if not items:
        raise DataFormatError(path, "no items")
    return items


def read_item_tokens(dataset_path: str | os.PathLike, name: str) -> list[str]:
    """The ``.inter`` token of every item, in text-vector row order (``<name>.item2index`` lines)."""
    return [token for _, _, token in read_item_index(dataset_path, name)]


def pack_for_shipping(dataset_path: str | os.PathLike, name: str) -> None:
    """Gzip ``<name>.{train,valid,test}.inter`` in place (the inverse of :func:`ensure_unpacked`)."""
    folder = Path(dataset_path)
    for split in SPLITS:
        plain = folder / f"{name}.{split}.inter"
        with open(plain, "rb") as source, atomic_write(beside(plain, ".gz"), "wb") as target:
            with gzip.GzipFile(fileobj=target, mode="wb", mtime=0) as packed:
                shutil.copyfileobj(source, packed)
        plain.unlink()
