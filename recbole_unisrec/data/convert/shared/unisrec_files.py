"""Sources already in UniSRec's atomic-file format: Scientific, Games and ML-1M.

Their ``.inter`` files hold ``user_id:token``, ``item_id_list:token_seq`` (space-separated
item indices) and ``item_id:token``, with a header line; ids are integers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recbole_unisrec.data.convert.common import (
    INTER_HEADER,
    TEXT_HEADER,
    SequenceData,
    parse_int,
    put_unique,
    read_rows,
    read_texts,
)
from recbole_unisrec.fileio import DataFormatError

PAPER_MAX_SEQ_LEN = 50  # histories in the paper's released files are cut to the last 50 items


@dataclass(frozen=True)
class InterRow:
    line: int
    user: int
    history: list[int]
    target: int


def read_inter(path: Path, allow_empty: bool = False) -> list[InterRow]:
    """All rows of a UniSRec ``.inter`` file (at least one unless ``allow_empty``)."""
    rows = []
    for number, (user, history, target) in read_rows(path, 3, header=INTER_HEADER.split("\t")):
        rows.append(InterRow(
            number,
            parse_int(user, path, number, "user id"),
            [parse_int(item, path, number, "item id") for item in history.split()],
            parse_int(target, path, number, "item id"),
        ))
    if not rows and not allow_empty:
        raise DataFormatError(path, "no interactions")
    return rows


def one_row_per_user(path: Path, rows: list[InterRow]) -> dict[int, InterRow]:
    by_user: dict[int, InterRow] = {}
    for row in rows:
        put_unique(by_user, row.user, row, path, row.line, "user")
    return by_user


def read_index(path: Path) -> dict[int, str]:
    """A ``raw id<TAB>index`` file as ``{index: raw id}`` (both must be unique)."""
    raw_of: dict[int, str] = {}
    seen: dict[str, int] = {}
    for number, (raw, index) in read_rows(path, 2):
        put_unique(seen, raw, number, path, number, "raw id")
        put_unique(raw_of, parse_int(index, path, number, "index"), raw, path, number, "index")
    if not raw_of:
        raise DataFormatError(path, "empty index file")
    return raw_of


def _raw(index_map: dict[int, str], index: int, path: Path, line: int, what: str) -> str:
    if index not in index_map:
        raise DataFormatError(path, f"{what} index {index} is not in the {what} index file", line)
    return index_map[index]


def load_scientific(folder: Path) -> SequenceData:
    """Amazon 2018 Scientific as released with the paper, reconstructed so that it splits the same.

    A user's full sequence is the (one-item) history of its earliest row -- the shortest train
    row, or the validation row if it has no train rows -- then its train targets in chronological
    order (the train file lists each user's prefixes longest first), the validation target and
    the test target. Every row's history must then be the last <= 50 items before its target,
    so that :func:`write_dataset` rewrites the split byte for byte. Users keep the order of
    ``Scientific.user2index``; raw ids are the ASINs and user ids of the index files.
    """
    files = {split: folder / f"Scientific.{split}.inter" for split in ("train", "valid", "test")}
    user_file, item_file = folder / "Scientific.user2index", folder / "Scientific.item2index"
    users = read_index(user_file)
    items = read_index(item_file)
    texts = read_texts(folder / "Scientific.text", header=TEXT_HEADER.split("\t"))

    train: dict[int, list[InterRow]] = {user: [] for user in users}
    for row in read_inter(files["train"], allow_empty=True):  # empty when every user has 3 items
        _raw(users, row.user, files["train"], row.line, "user")
        train[row.user].append(row)
    valid = one_row_per_user(files["valid"], read_inter(files["valid"]))
    test = one_row_per_user(files["test"], read_inter(files["test"]))
    for split, rows in (("valid", valid), ("test", test)):
        for user, row in rows.items():
            _raw(users, user, files[split], row.line, "user")

    sequences = []
    for user, raw_user in users.items():
        for split, rows in (("valid", valid), ("test", test)):
            if user not in rows:
                raise DataFormatError(files[split], f"user index {user} ({raw_user}) has no row")
        chronological = [(files["train"], row) for row in reversed(train[user])]
        chronological += [(files["valid"], valid[user]), (files["test"], test[user])]
        first_path, first = chronological[0]
        if len(first.history) != 1:
            raise DataFormatError(first_path, f"user index {user}: earliest row has {len(first.history)} history items, not 1 "
                                              "(the split cannot be reproduced)", first.line)
        sequence = list(first.history)
        for path, row in chronological:
            expected = sequence[-PAPER_MAX_SEQ_LEN:]
            if row.history != expected:
                raise DataFormatError(path, f"user index {user}: history does not continue the user's earlier rows "
                                            f"(rows must be every prefix, longest first)", row.line)
            sequence.append(row.target)
        raw_items = []
        for position, item in enumerate(sequence):
            path, row = chronological[max(0, position - 1)]
            raw_items.append(_raw(items, item, path, row.line, "item"))
        sequences.append((raw_user, raw_items))
    return SequenceData("Scientific", sequences, texts, str(folder / "Scientific.text"))


def load_games(folder: Path) -> SequenceData:
    """Amazon 2018 Video Games: ``Games.test.inter`` history plus target is the user's sequence.

    ``Games.valid.inter`` must hold the same sequence one step earlier (its items the test
    history's, possibly with earlier items the test row's truncated history lost, which are
    prepended). Raw ids are the integer ids of the files; text is the title from ``Games.item``.
    """
    test_path, valid_path = folder / "Games.test.inter", folder / "Games.valid.inter"
    test = one_row_per_user(test_path, read_inter(test_path))
    valid = one_row_per_user(valid_path, read_inter(valid_path))
    texts = read_texts(folder / "Games.item", header=("item_id:token", "title:token_seq"))
    for user, row in valid.items():
        if user not in test:
            raise DataFormatError(valid_path, f"user {user} has no row in {test_path.name}", row.line)
    sequences = []
    for user, row in test.items():
        if user not in valid:
            raise DataFormatError(test_path, f"user {user} has no row in {valid_path.name}", row.line)
        later = row.history + [row.target]
        earlier = valid[user].history + [valid[user].target]
        overlap = min(len(earlier), len(later) - 1)
        if overlap < 1 or earlier[len(earlier) - overlap:] != row.history[len(row.history) - overlap:]:
            raise DataFormatError(valid_path, f"user {user}: sequence does not agree with {test_path.name} line {row.line} "
                                              "(expected the same items one step earlier)", valid[user].line)
        sequence = earlier[:len(earlier) - overlap] + later
        sequences.append((str(user), [str(item) for item in sequence]))
    return SequenceData("Games", sequences, texts, str(folder / "Games.item"))


def load_ml1m(folder: Path) -> SequenceData:
    """MovieLens 1M, last <= 51 ratings per user: ``ml-1m.test.inter`` history plus target.

    Item indices map to MovieLens movie ids through ``ml-1m.item2index``; texts (``title year
    genre.``) come from ``ml-1m.text`` keyed by movie id. User ids are the file's indices.
    """
    test_path = folder / "ml-1m.test.inter"
    rows = one_row_per_user(test_path, read_inter(test_path))
    items = read_index(folder / "ml-1m.item2index")
    texts = read_texts(folder / "ml-1m.text", header=TEXT_HEADER.split("\t"))
    sequences = [
        (str(user), [_raw(items, item, test_path, row.line, "item") for item in row.history + [row.target]])
        for user, row in rows.items()
    ]
    return SequenceData("ML-1M", sequences, texts, str(folder / "ml-1m.text"))
