"""Session fixtures: the tiny data set of ``serving_fixtures`` and UniSRec checkpoints trained on it once."""
from __future__ import annotations

from pathlib import Path

import pytest
from serving_fixtures import NAME, fixture_data, train_tiny

from recbole_unisrec.data.convert.common import write_dataset


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serving")
    data, _ = fixture_data()
    write_dataset(data, root)
    return root


@pytest.fixture(scope="session")
def led_to_popular() -> list[list[str]]:
    return fixture_data()[1]


@pytest.fixture(scope="session")
def inductive_ckpt(tiny_root) -> str:
    return train_tiny(tiny_root, "inductive_ft")


@pytest.fixture(scope="session")
def transductive_ckpt(tiny_root) -> str:
    return train_tiny(tiny_root, "transductive_ft")


@pytest.fixture(scope="session")
def tiny_catalog(tiny_root) -> list[tuple[str, str]]:
    from recbole_unisrec.text.cache import read_item_texts

    ids, texts = read_item_texts(tiny_root / NAME, NAME)
    return list(zip(ids, texts))


@pytest.fixture(scope="session")
def tiny_dataset(tiny_root):
    """RecBole's own dataset object for the fixture (internal item ids as training assigned them)."""
    from recbole_unisrec.config import Config
    from recbole_unisrec.registry import create_dataset

    config = Config(model="UniSRec", dataset=NAME, config_dict={
        "data_path": str(tiny_root), "train_stage": "transductive_ft", "MAX_ITEM_LIST_LENGTH": 20, "state": "WARNING",
    })
    return create_dataset(config)


@pytest.fixture(scope="session")
def annotated_transductive_ckpt(transductive_ckpt, tiny_dataset, tmp_path_factory) -> str:
    """The transductive checkpoint after ``add_serving_info`` (what quick_start.run should do)."""
    import shutil

    from recbole_unisrec.serving import add_serving_info

    path = tmp_path_factory.mktemp("annotated") / "transductive.pth"
    shutil.copy(transductive_ckpt, path)
    add_serving_info(path, tiny_dataset)
    return str(path)
