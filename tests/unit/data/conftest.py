"""Fixtures that write the hand-made samples of samples.py."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from samples import SAMPLES, write_sample


@pytest.fixture
def shared_sample(tmp_path: Path) -> Callable[..., Path]:
    """``shared_sample(name, **overrides)`` writes one sample under ``tmp_path/shared`` and returns that root."""
    root = tmp_path / "shared"

    def make(name: str, overrides: dict[str, str | bytes | None] | None = None) -> Path:
        write_sample(root, name, overrides)
        return root

    return make


@pytest.fixture
def all_shared_samples(tmp_path: Path) -> Path:
    """Every sample written under ``tmp_path/shared``; returns that root."""
    root = tmp_path / "shared"
    for name in SAMPLES:
        write_sample(root, name)
    return root
