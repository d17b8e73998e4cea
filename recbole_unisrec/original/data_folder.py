"""A processed data folder of the original UniSRec code, copied into this project's layout.

The original's downstream folders (``dataset/downstream/<Name>/``) already hold this project's
atomic files: ``<Name>.{train,valid,test}.inter``, ``<Name>.item2index``, ``<Name>.user2index``
and ``<Name>.text``. They are checked and copied byte for byte, so the split stays exactly the
original's. The text vectors ``<Name>.<plm_suffix>`` (``feat1CLS``: raw float32, items x size,
row ``r`` for item index ``r``, no padding row) go into the text-vector cache under the encoder
name ``imported:<plm_suffix>``: a run with ``--text_encoder=imported:feat1CLS`` reads them and
never encodes.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from recbole_unisrec.data.convert.common import INTER_HEADER, dataset_files, read_rows
from recbole_unisrec.data.convert.shared.unisrec_files import read_index
from recbole_unisrec.data.layout import SPLITS, check_inter_file, read_item_index
from recbole_unisrec.fileio import DataFormatError, atomic_directory
from recbole_unisrec.original import DEFAULT_PLM_SUFFIX
from recbole_unisrec.text.cache import read_item_texts, store_vectors
from recbole_unisrec.text.encoder import EncoderSpec, imported_encoder

FLOAT32_BYTES = 4


def import_data_folder(src: str | os.PathLike, name: str, out_root: str | os.PathLike,
                       plm_suffix: str = DEFAULT_PLM_SUFFIX, replace: bool = False) -> dict[str, Any]:
    """Copy the original folder ``src`` (files ``<name>.*``) to ``out_root/<name>/`` and cache its
    ``<name>.<plm_suffix>`` vectors as encoder ``imported:<plm_suffix>``. Returns a summary.

    Everything is checked before anything is written; the folder is written whole or not at all,
    its vector cache file right after it. An existing ``out_root/<name>`` is replaced only with
    ``replace``."""
    for value, what in ((name, "data set name"), (plm_suffix, "vector file suffix")):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value.startswith("."):
            raise ValueError(f"{what} {value!r} must be letters, digits, '_', '-' or '.'")
    src, out_root = Path(src), Path(out_root)
    target = out_root / name
    if target.exists() and not replace:
        raise ValueError(f"{target} exists already; convert into another --out folder, or pass --force to replace it")
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    for file_name in [*dataset_files(name), f"{name}.{plm_suffix}"]:
        if not (src / file_name).is_file():
            raise FileNotFoundError(f"{src}: no {file_name} (an original processed folder holds "
                                    f"{', '.join(dataset_files(name))} and {name}.{plm_suffix})")
    rows = _vector_rows(src, name)
    users = {str(index) for index in read_index(src / f"{name}.user2index")}
    items = set(rows)
    split_rows = {split: _check_inter(src / f"{name}.{split}.inter", items, users) for split in SPLITS}
    read_item_texts(src, name)  # every item has a text
    table = _read_vectors(src / f"{name}.{plm_suffix}", name, list(rows.values()))

    with atomic_directory(target) as folder:
        for file_name in dataset_files(name):
            shutil.copyfile(src / file_name, folder / file_name)
    encoder = imported_encoder(plm_suffix)
    vectors = store_vectors(out_root, name, EncoderSpec(model=encoder), table)
    return {
        "users": len(users),
        "items": len(rows),
        "rows": split_rows,
        "text_encoder": encoder,
        "text_dim": int(table.shape[1]),
        "vectors": str(vectors),
        "finetune": f"python run_finetune.py -d {name} --data-root {out_root} --text_encoder={encoder} -p CHECKPOINT",
    }


def _vector_rows(folder: Path, name: str) -> dict[str, int]:
    """Item token -> its row of the vector file, in ``<name>.item2index`` order: the token is the
    item index, and row ``r`` holds index ``r``."""
    rows: dict[str, int] = {}
    items = read_item_index(folder, name)
    for line, raw, token in items:
        if not (token.isascii() and token.isdigit()) or token != str(int(token)) or int(token) >= len(items):
            raise DataFormatError(folder / f"{name}.item2index",
                                  f"item {raw!r}: index {token!r} is not a whole number below the item count {len(items)}", line)
        if token in rows:
            raise DataFormatError(folder / f"{name}.item2index", f"item {raw!r}: index {token} is listed twice", line)
        rows[token] = int(token)
    return rows


def _check_inter(path: Path, items: set[str], users: set[str]) -> int:
    """The number of rows of an ``.inter`` file whose every user and item has an index."""
    check_inter_file(path)
    count = 0
    for line, (user, history, target) in read_rows(path, 3, header=INTER_HEADER.split("\t")):
        if user not in users:
            raise DataFormatError(path, f"user {user!r} is not in the user2index file", line)
        unknown = next((item for item in [*history.split(" "), target] if item not in items), None)
        if unknown is not None:
            raise DataFormatError(path, f"item {unknown!r} is not in the item2index file", line)
        count += 1
    return count


def _read_vectors(path: Path, name: str, rows: list[int]) -> np.ndarray:
    """The vectors in ``<name>.item2index`` line order from the raw float32 file ``path``."""
    size = path.stat().st_size
    if size == 0 or size % (FLOAT32_BYTES * len(rows)):
        raise DataFormatError(path, f"{size:,} bytes do not hold {len(rows)} items ({name}.item2index) x a whole "
                                    "number of float32 values")
    table = np.fromfile(path, dtype="<f4").reshape(len(rows), -1)[rows]
    bad = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad.size:
        raise DataFormatError(path, f"the vector of item index {rows[bad[0]]} holds NaN or infinite values")
    return table
