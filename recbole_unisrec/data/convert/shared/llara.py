"""The LLaRA releases of Last.fm and Steam: sliding windows ``history<TAB>len_seq<TAB>next``
(histories of at most 10 items) and names in ``id2name.txt`` (``id::name``; a name may itself
contain ``::``). Raw item ids are the integer ids of the files.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from recbole_unisrec.data.convert.common import SequenceData, parse_int, put_unique, read_rows
from recbole_unisrec.fileio import DataFormatError, read_lines

WINDOW = 10  # LLaRA keeps the last 10 items before each target
SPLITS = (("train", "train_data"), ("valid", "Val_data"), ("test", "Test_data"))


def read_names(path: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for number, line in read_lines(path):
        item, sep, name = line.partition("::")
        if not sep:
            raise DataFormatError(path, "expected 'id::name'", number)
        put_unique(names, str(parse_int(item, path, number, "item id")), name, path, number, "item id")
    return names


def load_lastfm(folder: Path) -> SequenceData:
    """Last.fm (hetrec2011, LLaRA): each line of ``{train_data,Val_data,Test_data}.user_sequences.txt``
    is one listener's whole artist sequence (the ``.tsv`` files are exactly its sliding windows).

    LLaRA splits by user, so the three files hold different listeners; all are kept, train first.
    Listeners have no ids: the user id is ``<split>-<line>`` (``train-1``, ``valid-1``, ...).
    """
    sequences = []
    for split, stem in SPLITS:
        path = folder / f"{stem}.user_sequences.txt"
        for number, line in read_lines(path):
            items = [str(parse_int(token, path, number, "item id")) for token in line.split()]
            if not items:
                raise DataFormatError(path, "blank line (expected a sequence of item ids)", number)
            sequences.append((f"{split}-{number}", items))
    if not sequences:
        raise DataFormatError(folder / f"{SPLITS[0][1]}.user_sequences.txt", "no sequences")
    return SequenceData("LastFM", sequences, read_names(folder / "id2name.txt"), str(folder / "id2name.txt"))


def load_steam(folder: Path) -> SequenceData:
    """Steam (LLaRA sample): rebuild user sequences from sampled windows, as far as they allow.

    Each row ``history len_seq next`` is one window ``history + [next]`` of some user's sequence
    (``train_data*.tsv`` is a random sample of the training windows; ``Val_data.tsv`` and
    ``Test_data.tsv`` one window per user). The sample keeps no user ids, so:

    * every distinct window is a sequence (an identical window seen again is dropped);
    * window B *continues* window A when B's history is A's last <= 10 items (the window slid by
      one step: the same user, one item later). Where that link is unambiguous (A has one such
      successor and B one such predecessor) the windows are chained into one sequence
      ``A + [B.next] + [C.next] ...``.

    The user id is the first window's ``<split>-<line>``. Windows of fewer than 3 items are
    dropped by :func:`write_dataset` (counted).
    """
    train_files = sorted(folder.glob("train_data*.tsv"))
    if len(train_files) != 1:
        raise DataFormatError(folder, f"expected one train_data*.tsv file, found {len(train_files)}")
    paths = [("train", train_files[0]), ("valid", folder / "Val_data.tsv"), ("test", folder / "Test_data.tsv")]
    windows: dict[tuple[str, ...], str] = {}  # items -> user id, in file order
    history_of: dict[tuple[str, ...], tuple[str, ...]] = {}
    for split, path in paths:
        for number, (history, length, target) in read_rows(path, 3, header=("history", "len_seq", "next")):
            items = tuple(str(parse_int(token, path, number, "item id")) for token in history.split())
            if parse_int(length, path, number, "len_seq") != len(items) or len(items) > WINDOW:
                raise DataFormatError(path, f"len_seq {length} does not match the {len(items)} history items "
                                            f"(at most {WINDOW})", number)
            window = items + (str(parse_int(target, path, number, "item id")),)
            if window not in windows:
                windows[window] = f"{split}-{number}"
                history_of[window] = items
    if not windows:
        raise DataFormatError(paths[0][1], "no windows")

    by_history: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for window, history in history_of.items():
        by_history.setdefault(history, []).append(window)
    predecessors = Counter(window[-WINDOW:] for window in windows)
    following: dict[tuple[str, ...], tuple[str, ...]] = {}
    for window in windows:
        candidates = by_history.get(window[-WINDOW:], [])
        if len(candidates) == 1 and predecessors[history_of[candidates[0]]] == 1 and candidates[0] != window:
            following[window] = candidates[0]
    continued = set(following.values())

    sequences, used = [], set()
    for start in [window for window in windows if window not in continued] + list(windows):
        if start in used:
            continue  # already chained (the second pass only picks up windows in a cycle)
        sequence, window = list(start), start
        used.add(start)
        while window in following and following[window] not in used:
            window = following[window]
            used.add(window)
            sequence.append(window[-1])
        sequences.append((windows[start], sequence))
    return SequenceData("Steam", sequences, read_names(folder / "id2name.txt"), str(folder / "id2name.txt"))
