"""Fixtures shared by unit and integration tests."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The read-only real data beside the checkout; tests that need it skip where it is absent."""


@pytest.fixture
def shared_data_root() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA
