"""What ``python -m recbole_unisrec recommend`` reads and writes: the histories file, the table
printed for one history (or its JSON), and the results file of many."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from recbole_unisrec.fileio import DataFormatError, atomic_write, read_lines
from recbole_unisrec.serving.results import RecommendationList

RESULTS_HEADER = "user\trank\titem_id\tscore\ttext_only\n"


def read_histories(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """``(user, item ids)`` per line of a histories file: ``id1 id2 ...`` or ``user<TAB>id1 id2 ...``.

    Lines without a user are named by their line number; blank lines are skipped; a user with
    no ids is an error naming the line.
    """
    path = Path(path)
    histories = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        user, sep, ids = line.partition("\t")
        if not sep:
            user, ids = str(number), line
        user = user.strip()
        if not user:
            raise DataFormatError(path, "empty user before the tab", number)
        items = ids.split()
        if not items:
            raise DataFormatError(path, f"user {user!r} has an empty history", number)
        histories.append((user, items))
    if not histories:
        raise DataFormatError(path, "no histories")
    return histories


def recommendations_json(history: str, mode: str, result: RecommendationList) -> dict[str, Any]:
    """One history's recommendations as ``recommend --json`` prints them."""
    return {"history": history.split(), "mode": mode, "recommendations": [
        {"rank": rank, "item_id": r.item_id, "score": round(r.score, 6), "text": r.text, "text_only": r.text_only}
        for rank, r in enumerate(result, start=1)]}


def print_recommendations(result: RecommendationList, mode: str) -> None:
    """One history's recommendations as a table: rank, item id, score and text (cut at 100
    characters); in a transductive catalog, ``*`` marks items scored on text only."""
    transductive = mode == "transductive"
    width = max([len(r.item_id) + transductive for r in result] + [7])
    print(f"{'rank':>4}  {'item_id':<{width}}  {'score':>9}  text")
    for rank, r in enumerate(result, start=1):
        mark = "*" if transductive and r.text_only else ""
        text = r.text if len(r.text) <= 100 else r.text[:99] + "\u2026"
        print(f"{rank:>4}  {r.item_id + mark:<{width}}  {r.score:>9.4f}  {text}")
    if transductive and any(r.text_only for r in result):
        print("* no learned ID vector: scored on text only")
    if result.history_text_only:
        print(f"history items scored on text only: {' '.join(result.history_text_only)}")


def write_recommendations(path: str | os.PathLike, users: Sequence[str], results: Sequence[RecommendationList]) -> None:
    """The results file (whole or not at all): one line per user and rank, under
    :data:`RESULTS_HEADER`."""
    with atomic_write(path) as handle:
        handle.write(RESULTS_HEADER)
        for user, result in zip(users, results):
            for rank, r in enumerate(result, start=1):
                handle.write(f"{user}\t{rank}\t{r.item_id}\t{r.score:.6f}\t{int(r.text_only)}\n")
