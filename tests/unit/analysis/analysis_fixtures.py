"""Fixtures of the analysis tests (a module of its own, not a conftest.py, so that it never shadows
another directory's conftest): a tiny data set whose item popularity is skewed, with items that
never occur in training, written in the project's layout; and tiny training settings (as
tests/unit/baselines/baseline_fixtures.py has them)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from recbole_unisrec.data.convert.common import SequenceData, write_dataset

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange", "grey", "pink", "brown", "silver"]
THINGS = ["apple", "hammer", "novel", "shoe", "lamp", "kettle", "chair"]
N_ITEMS = 72
"""Item ``i`` is ``'<colour> <thing>'``; 72 items, enough for RecBole's Recall@50."""

TINY = {
    "hidden_size": 16, "embedding_size": 16, "inner_size": 16, "n_layers": 1, "n_heads": 2, "epochs": 1,
    "train_batch_size": 32, "eval_batch_size": 16, "show_progress": False, "seed": 7,
    "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "state": "WARNING", "metric_decimal_place": 10,
}
"""Tiny models; small evaluation batches (several per split); metrics unrounded."""


def item(i: int) -> str:
    return f"i{i}"


def skewed_sequences(users: int = 64, seed: int = 3) -> list[tuple[str, list[str]]]:
    """Histories of 3 to 9 items drawn with popularity ~ 1 / (rank + 1); every 8th user ends on a
    cold item (one that occurs only as that user's test target)."""
    rng = random.Random(seed)
    warm = list(range(56))
    weights = [1.0 / (rank + 1) for rank in warm]
    cold = iter(range(56, N_ITEMS))
    sequences = []
    for user in range(users):
        length = 3 + user % 7
        items = []
        while len(items) < length:
            candidate = rng.choices(warm, weights)[0]
            if not items or items[-1] != candidate:
                items.append(candidate)
        if user % 8 == 0:
            items[-1] = next(cold)
        sequences.append((f"u{user}", [item(i) for i in items]))
    return sequences


def skewed_texts() -> dict[str, str]:
    return {item(i): f"{COLOURS[i % len(COLOURS)]} {THINGS[i // len(COLOURS)]}" for i in range(N_ITEMS)}


def write_skewed(root: Path, name: str = "Skewed") -> Path:
    sequences = skewed_sequences()
    used = {i for _, items in sequences for i in items}
    texts = {key: text for key, text in skewed_texts().items() if key in used}
    write_dataset(SequenceData(name, sequences, texts), root)
    return root


def brute_force_counts(sequences: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Training interactions per raw item id, from the histories themselves: leave-one-out keeps
    the last two items of a user for validation and test, and a user with three items has no
    training row at all (so none of their items counts)."""
    counts: dict[str, int] = {}
    for _, items in sequences:
        if len(items) < 4:
            continue
        for raw in items[:-2]:
            counts[raw] = counts.get(raw, 0) + 1
    return counts


@pytest.fixture(scope="session")
def skewed_root(tmp_path_factory) -> Path:
    return write_skewed(tmp_path_factory.mktemp("analysis"))


@pytest.fixture
def tiny_config(skewed_root, tmp_path) -> dict:
    return {**TINY, "data_path": str(skewed_root), "checkpoint_dir": str(tmp_path / "saved")}
