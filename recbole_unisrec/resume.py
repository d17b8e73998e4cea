"""Training runs that survive a kill: a resume state after every validated epoch.

RecBole's ``Trainer.fit`` keeps only the best epoch's weights on disk, so a fine-tuning or
baseline run stopped at epoch 40 starts again from epoch 0. :class:`ResumeWriter` is the
``callback_fn`` that ``fit`` calls after each validation: it writes ``<checkpoint>-resume.pth``
whole (a temporary name, then renamed) with what the following epochs depend on: weights,
optimizer, early-stopping counters, the loss and validation history, every random generator
(torch, CUDA, numpy, python and the train loader's own shuffling), the training seconds so far
and the run's settings. :func:`restore` puts it back into a new trainer, so a resumed run trains
the same epochs to the same weights as one never stopped (tested); ``runner.run`` deletes the
file once the run is tested. The file loads with ``torch.load(weights_only=True)``, like every
checkpoint here.
"""
from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.compat import plain_config
from recbole_unisrec.fileio import save_checkpoint

RESUME_FORMAT = "recbole_unisrec.resume/1"

NOT_COMPARED = frozenset({
    "data_path", "checkpoint_dir", "config_files", "show_progress", "state", "device", "gpu_id", "use_gpu",
    "local_rank", "nproc", "world_size", "ip", "port", "offset", "log_wandb", "wandb_project", "worker",
})
"""Settings that say where files are, where a run computes or how it reports, not what it trains:
a resumed run may differ in them (another checkout, ``--show_progress=False``)."""


def resume_path(checkpoint_file: str | os.PathLike) -> str:
    """Where the resume state of the run whose best model goes to ``checkpoint_file`` lives."""
    path = Path(checkpoint_file)
    return str(path.with_name(path.stem + "-resume.pth"))


# --- random generators --------------------------------------------------------------------------

def rng_state(device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """This process's torch, CUDA (on a CUDA ``device``), numpy and python generator states, as tensors."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.tensor([*keys.tolist(), position, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([cached], dtype=torch.float64),
        "python": torch.tensor([version, *internal], dtype=torch.int64),
        "python_gauss": torch.tensor([math.nan if gauss_next is None else gauss_next], dtype=torch.float64),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, torch.Tensor], device: torch.device | None = None) -> None:
    """Put back what :func:`rng_state` took."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    if device is not None and device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu().to(torch.uint8), device)
    numpy_state = state["numpy"].tolist()
    np.random.set_state(("MT19937", np.array(numpy_state[:624], dtype=np.uint32), int(numpy_state[624]),
                         int(numpy_state[625]), float(state["numpy_gauss"][0])))
    python_state = state["python"].tolist()
    gauss = float(state["python_gauss"][0])
    random.setstate((int(python_state[0]), tuple(int(x) for x in python_state[1:]), None if math.isnan(gauss) else gauss))


def loader_state(loader: Any) -> dict[str, Any]:
    """The train loader's own shuffling state: RecBole's ``generator`` and, for the length-bucketed
    and packed loaders (batches planned from ``(seed, epoch)``), the epoch counter."""
    state: dict[str, Any] = {}
    if isinstance(getattr(loader, "generator", None), torch.Generator):
        state["generator"] = loader.generator.get_state()
    if hasattr(loader, "set_epoch") and isinstance(getattr(loader, "epoch", None), int):
        state["epoch"] = loader.epoch
    return state


def restore_loader(loader: Any, state: dict[str, Any]) -> None:
    if "generator" in state:
        loader.generator.set_state(state["generator"])
    if "epoch" in state:
        loader.set_epoch(int(state["epoch"]))


# --- the resume state ---------------------------------------------------------------------------

def run_settings(config: Any, pretrained: str | None, freeze: bool) -> dict[str, Any]:
    """What a resumed run must share with the run it continues: every setting but
    :data:`NOT_COMPARED`, the pre-trained checkpoint and whether it is frozen."""
    settings = {key: value for key, value in plain_config(config).items() if key not in NOT_COMPARED}
    settings.update(pretrained=pretrained, freeze=bool(freeze) if pretrained else None)
    return settings


class ResumeWriter:
    """``fit``'s ``callback_fn``: writes the resume state after every validation.

    ``run_args`` (the arguments of ``runner.run``) let ``run_finetune.py --resume`` start the same
    run again; ``seconds_before`` is the training time of the runs this one continues;
    ``valid_curve`` is the run's ``[epoch, score]`` list, which its caller fills before each write."""

    def __init__(self, trainer: Any, train_data: Any, path: str, settings: dict[str, Any], run_args: dict[str, Any],
                 valid_curve: list[list[float]], seconds_before: float = 0.0):
        self.trainer, self.train_data, self.path = trainer, train_data, path
        self.settings, self.run_args, self.valid_curve = settings, run_args, valid_curve
        self.seconds_before = seconds_before
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def __call__(self, epoch_idx: int, valid_score: float) -> None:
        trainer = self.trainer
        if not trainer.config["single_spec"] and trainer.config["local_rank"] != 0:
            return
        finished = trainer.cur_step > trainer.stopping_step or epoch_idx + 1 >= trainer.epochs
        state = {
            "format": RESUME_FORMAT,
            "epoch": epoch_idx,
            "finished": finished,
            "cur_step": trainer.cur_step,
            "best_valid_score": float(trainer.best_valid_score),
            "best_valid_result": {key: float(value) for key, value in (trainer.best_valid_result or {}).items()},
            "train_loss": [[int(epoch), float(loss)] for epoch, loss in trainer.train_loss_dict.items()],
            "valid_curve": [list(point) for point in self.valid_curve],
            "best_file": trainer.saved_model_file,
            "train_seconds": self.seconds(),
            "state_dict": {name: value.detach().cpu() for name, value in trainer.model.state_dict().items()},
            "optimizer": trainer.optimizer.state_dict(),
            "rng": rng_state(trainer.device),
            "loader": loader_state(self.train_data),
            "settings": self.settings,
            "run_args": self.run_args,
        }
        save_checkpoint(state, self.path)


def load_resume_state(path: str | os.PathLike) -> dict[str, Any]:
    """A resume state written by :class:`ResumeWriter`; anything else is a one-line ``CheckpointError``."""
    state = load_checkpoint(path, map_location="cpu")
    if state.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path}: not a resume state of a fine-tuning run (written as <checkpoint>-resume.pth)")
    return state


def check_same_run(state: dict[str, Any], path: str | os.PathLike, settings: dict[str, Any]) -> None:
    """A one-line ``ValueError`` naming the first setting in which this run differs from the one
    that wrote ``state``: continuing it would mix two recipes in one result."""
    saved = state.get("settings") or {}
    for key in sorted(set(saved) | set(settings)):
        if saved.get(key) != settings.get(key):
            raise ValueError(f"{path}: made by a run with {key}={saved.get(key)!r}, this run has {settings.get(key)!r}; "
                             f"run it as it was, or delete the file to start afresh")


def restore(trainer: Any, train_data: Any, state: dict[str, Any], path: str | os.PathLike) -> None:
    """Continue ``trainer`` after the last validated epoch of ``state``: weights, optimizer,
    early-stopping counters, loss history, the best model's file and every generator."""
    best_file = state["best_file"]
    if not os.path.isfile(best_file):
        raise CheckpointError(f"{path}: the run's best model {best_file} is missing; delete the resume state to start afresh")
    trainer.model.load_state_dict(state["state_dict"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.start_epoch = int(state["epoch"]) + 1
    trainer.cur_step = int(state["cur_step"])
    trainer.best_valid_score = float(state["best_valid_score"])
    trainer.best_valid_result = dict(state["best_valid_result"]) or None
    trainer.train_loss_dict = {int(epoch): float(loss) for epoch, loss in state["train_loss"]}
    trainer.saved_model_file = best_file
    restore_loader(train_data, state["loader"])
    restore_rng(state["rng"], trainer.device)
