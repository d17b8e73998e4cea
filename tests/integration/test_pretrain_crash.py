"""SIGKILL during pre-training (a real subprocess), then --resume: the same final parameters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "pretrain"))
from pretrain_fixtures import TINY_PRETRAIN, encoded_corpus  # noqa: E402

import run_pretrain  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {**TINY_PRETRAIN, "pretrain_epochs": 2, "checkpoint_steps": 1}


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return encoded_corpus(tmp_path_factory, "crash")


def _args(root: Path, saved: Path) -> list[str]:
    values = {**SETTINGS, "data_path": str(root), "checkpoint_dir": str(saved)}
    return ["-d", "FT", *(f"--{key}={value}" for key, value in values.items())]


def _wait_for_mid_epoch_checkpoint(path: Path, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pre-training ended before it could be killed:\n{process.stderr.read()}")
        if path.is_file():
            checkpoint = torch.load(path, weights_only=True)
            if checkpoint["resume_batch"] > 0:
                return
        time.sleep(0.01)
    pytest.fail("no mid-epoch checkpoint appeared")


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(corpus_root, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    killed_dir = tmp_path / "killed"
    last = killed_dir / "UniSRec-FT-last.pth"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(REPO / "run_pretrain.py"), *_args(corpus_root, killed_dir)],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_mid_epoch_checkpoint(last, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # whatever the moment of the kill, every file under a checkpoint name is complete
    for path in killed_dir.glob("*.pth"):
        torch.load(path, weights_only=True)
    interrupted_at = torch.load(last, weights_only=True)
    assert interrupted_at["resume_epoch"] < SETTINGS["pretrain_epochs"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed = run_pretrain.main(["--resume", str(last)])
        whole = run_pretrain.main(_args(corpus_root, tmp_path / "whole"))
    finally:
        torch.set_num_threads(threads)
    assert resumed["epoch_losses"] == whole["epoch_losses"]
    final = torch.load(resumed["checkpoint"], weights_only=True)["state_dict"]
    expected = torch.load(whole["checkpoint"], weights_only=True)["state_dict"]
    for name, value in expected.items():
        assert torch.equal(final[name], value), name
