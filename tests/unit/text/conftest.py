"""Fixtures for the text encoder tests."""
from __future__ import annotations

import pytest

from recbole_unisrec.text import encoder


@pytest.fixture
def no_model(monkeypatch):
    """Loading the language model fails from here on (proves a path never needs it)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the language model was loaded")

    monkeypatch.setattr(encoder, "load_model", refuse)
