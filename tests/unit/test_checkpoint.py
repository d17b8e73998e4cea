"""Checkpoints are read with torch.load(weights_only=True): a pickle payload never runs."""
from __future__ import annotations

import os

import pytest
import torch

from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint, load_pretrained


class Payload:
    """Unpickling this runs ``touch marker`` (what a hostile checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_payload_is_refused_and_never_runs(tmp_path) -> None:
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "config": Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="evil.pth: refused, the file holds Python objects"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_pretrained(torch.nn.Linear(1, 1), evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is real: unsafe loading runs it
    assert marker.exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}, "config": {"model": "UniSRec"}}, good)
    assert load_checkpoint(good)["config"]["model"] == "UniSRec"
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable checkpoint, truncated or corrupt"):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="missing.pth: checkpoint file not found"):
        load_checkpoint(tmp_path / "missing.pth")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a checkpoint \\(no state_dict\\)"):
        load_checkpoint(tmp_path / "other.pth")
