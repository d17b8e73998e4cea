"""Fixtures of the pre-training tests: one tiny two-domain corpus per module, encoded up front."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pretrain_fixtures import encoded_corpus


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return encoded_corpus(tmp_path_factory, "pretrain")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and far faster on a busy machine (OpenMP spinning)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
