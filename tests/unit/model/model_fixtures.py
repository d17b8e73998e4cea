"""A tiny real data set (chains of items with real texts) and a builder for RecBole objects."""
from __future__ import annotations

from pathlib import Path

import pytest

from reference_metrics import brute_force_metrics  # noqa: F401  (re-exported for the model tests)

from recbole_unisrec.config import Config
from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.registry import create_dataset, get_model

CHAINS = [
    ["red apple", "green pear", "yellow banana", "purple grape", "orange mango"],
    ["steel hammer", "iron nails", "wood saw", "power drill", "tape measure"],
    ["science fiction novel", "poetry book", "history atlas", "cook book", "travel guide"],
    ["running shoes", "wool socks", "rain jacket", "sun hat", "leather gloves"],
]
"""Each user walks one chain from a random start; the next item is always the chain's next."""

TINY_CONFIG = {
    "hidden_size": 32, "inner_size": 32, "n_layers": 1, "n_heads": 2, "epochs": 1,
    "train_batch_size": 64, "eval_batch_size": 64, "show_progress": False, "seed": 7,
    "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "adaptor_dropout_prob": 0.0,
    "MAX_ITEM_LIST_LENGTH": 6, "topk": [5, 10],
    "use_gpu": False,  # unit tests run on CPU on any machine; test_cuda.py opts in
}


def chain_sequences(users: int = 48, length: int = 8) -> list[tuple[str, list[str]]]:
    sequences = []
    for user in range(users):
        chain = CHAINS[user % len(CHAINS)]
        start = (user // len(CHAINS)) % len(chain)
        sequences.append((f"u{user}", [f"c{user % len(CHAINS)}i{(start + step) % len(chain)}" for step in range(length)]))
    return sequences


def chain_texts() -> dict[str, str]:
    return {f"c{c}i{i}": text for c, chain in enumerate(CHAINS) for i, text in enumerate(chain)}


def write_fixture(root: Path, name: str = "Tiny", sequences=None, texts=None) -> Path:
    write_dataset(SequenceData(name, sequences or chain_sequences(), texts or chain_texts()), root)
    return root


def build(root: Path, name: str = "Tiny", model: str = "UniSRec", **overrides):
    """(config, dataset, train, valid, test, model) as quick_start.run builds them."""
    config = Config(model=model, dataset=name, config_dict={
        **TINY_CONFIG, "data_path": str(root), "checkpoint_dir": str(root / "saved"), **overrides})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    net = get_model(model)(config, train._dataset)
    return config, dataset, train, valid, test, net


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("tiny"))
