"""Tiny data sets in the project's layout, written into tmp_path (helpers for the text tests)."""
from __future__ import annotations

from pathlib import Path


def write_dataset(root: Path, name: str, items: list[tuple[str, str]], text_order: list[int] | None = None) -> Path:
    """``<root>/<name>/`` with ``.item2index`` in ``items`` order and ``.text`` in ``text_order``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.item2index").write_text("".join(f"{raw}\t{i}\n" for i, (raw, _) in enumerate(items)))
    order = text_order if text_order is not None else list(range(len(items)))
    rows = "".join(f"{items[i][0]}\t{items[i][1]}\n" for i in order)
    (folder / f"{name}.text").write_text("item_id:token\ttext:token_seq\n" + rows)
    return folder


def write_corpus(root: Path, name: str, domains: list[tuple[str, int]]) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.domains").write_text("".join(f"{d}\t{dom}\t{n}\n" for d, (dom, n) in enumerate(domains)))
    return folder
