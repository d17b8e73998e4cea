"""Pytest fixtures for the baseline tests (a module of its own, not a conftest.py, so that it never
shadows another directory's conftest in `from conftest import ...`): a tiny data set with real
item texts, big enough for Recall@50 (72 items)."""
from __future__ import annotations

from pathlib import Path

import pytest

from reference_metrics import brute_force_metrics

from recbole_unisrec.config import Config
from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.registry import create_dataset, get_model

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange", "grey", "pink", "brown", "silver"]
THINGS = ["apple", "hammer", "novel", "shoe", "lamp", "kettle"]
"""Chain c walks THINGS in order, each item is '<colour c> <thing>'; the next item is always the chain's next."""

TINY = {
    "hidden_size": 16, "embedding_size": 16, "inner_size": 16, "n_layers": 1, "n_heads": 2, "epochs": 1,
    "train_batch_size": 32, "eval_batch_size": 256, "show_progress": False, "seed": 7,
    "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "state": "WARNING",
    "use_gpu": False,  # unit tests run on CPU on any machine
}


def tiny_sequences(users: int = 48, length: int = 7) -> list[tuple[str, list[str]]]:
    sequences = []
    for user in range(users):
        chain = user % len(COLOURS)
        start = (user // len(COLOURS)) % len(THINGS)
        sequences.append((f"u{user}", [f"c{chain}i{(start + step) % len(THINGS)}" for step in range(length - user % 4)]))
    return sequences


def tiny_texts() -> dict[str, str]:
    return {f"c{c}i{i}": f"{colour} {thing}" for c, colour in enumerate(COLOURS) for i, thing in enumerate(THINGS)}


def write_tiny(root: Path, name: str = "Tiny") -> Path:
    write_dataset(SequenceData(name, tiny_sequences(), tiny_texts()), root)
    return root


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("baselines"))


@pytest.fixture
def tiny_config(tiny_root, tmp_path) -> dict:
    return {**TINY, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path / "saved")}


def build(model: str, config_dict: dict):
    """``(config, train, test, model)`` for ``model`` on the Tiny data set, as ``quick_start.run`` builds them."""
    config = Config(model=model, dataset="Tiny", config_dict=config_dict)
    dataset = create_dataset(config)
    train, _, test = data_preparation(config, dataset)
    return config, train, test, get_model(model)(config, train._dataset)


def assert_metrics_of_checkpoint(result: dict, config_dict: dict, ks=(10, 50)) -> dict[str, float]:
    """``result["test_result"]`` (a ``run_baseline`` result, run with ``config_dict``) equals
    :func:`brute_force_metrics` of its saved checkpoint, loaded into a model built with
    ``config_dict`` over a stock test loader; returns those metrics."""
    from recbole_unisrec.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(result["checkpoint"])
    _, _, test, model = build(checkpoint["config"]["model"], config_dict)
    model.load_state_dict(checkpoint["state_dict"])
    expected = brute_force_metrics(model, test, ks)
    assert set(expected) == set(result["test_result"])
    for key, value in expected.items():
        assert abs(result["test_result"][key] - value) <= 1e-9 + 1e-6 * value, (key, value, result["test_result"])
    return expected
