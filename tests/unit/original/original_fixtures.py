"""The original UniSRec code's checkpoints and data (../shared/fixtures/official-unisrec), copied
once per test session into a temporary folder (the fixture folder itself is read-only)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

OFFICIAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "official-unisrec"
PRETRAINED = "UniSRec-pretrain-tiny.pth"
FINETUNED = "UniSRec-finetune-transductive-tiny.pth"
ITEM_TOKENS = "UniSRec-finetune-transductive-tiny.item_tokens.json"
SCIENTIFIC = Path("dataset") / "downstream" / "Scientific"


@pytest.fixture(scope="session")
def official(tmp_path_factory) -> Path:
    """A writable copy of the checkpoints, the item token order and the downstream Scientific folder."""
    if not OFFICIAL.is_dir():
        pytest.skip(f"{OFFICIAL} not present (the original code's checkpoints live beside the checkout)")
    copy = tmp_path_factory.mktemp("official-unisrec")
    for name in (PRETRAINED, FINETUNED, ITEM_TOKENS):
        shutil.copyfile(OFFICIAL / name, copy / name)
    shutil.copytree(OFFICIAL / SCIENTIFIC, copy / SCIENTIFIC)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy
