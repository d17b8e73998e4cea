"""Checkpoints that load with ``torch.load(weights_only=True)``, and loading them into a model.

A checkpoint is a dict of tensors and plain values: ``state_dict``, ``config`` (plain dict) and,
from this project's trainers, ``epoch``, ``optimizer`` and more. RecBole's own Trainer writes the
same shape once ``recbole_unisrec.compat`` is applied. A checkpoint of the original UniSRec code
(which pickles RecBole's Config) is imported into this shape by ``recbole_unisrec.original``.
"""
from __future__ import annotations

import os
import pickle
from logging import getLogger
from typing import Any

import torch
from torch import nn

from recbole_unisrec.fileio import CheckpointError, save_checkpoint

DOMAIN_SPECIFIC = ("item_embedding.",)
"""Parameters that belong to one data set's items and are never transferred."""
FROZEN_IN_FINETUNING = ("position_embedding.", "trm_encoder.")
"""What parameter-efficient fine-tuning keeps as pre-trained: the position embedding and the
Transformer layers (as the original code; the adaptor, the input LayerNorm and an ID embedding train)."""
RESUME_STATE = ("optimizer", "scaler", "rng", "partial", "resume_epoch", "resume_batch", "cur_step", "world_size")
"""What a checkpoint holds only to continue its own training; fine-tuning, evaluation and serving
read none of it. Adam's two moments make a pre-training checkpoint three times the weights' size."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load safely; anything that is not a checkpoint of this shape is a one-line error."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        from recbole_unisrec.original.checkpoint import import_original_checkpoint, is_original_checkpoint

        if is_original_checkpoint(path):  # the original UniSRec code's: read as data, no code runs
            return import_original_checkpoint(path, map_location)
        if "Unsupported global" in str(error) or "GLOBAL" in str(error):
            raise CheckpointError(
                f"{path}: refused, the file holds Python objects that would run code when loaded "
                "(only tensors and plain values are accepted)"
            ) from None
        raise CheckpointError(f"{path}: not a checkpoint (unreadable pickle data)") from None
    except Exception as error:  # torch raises many types for bytes that are not a checkpoint
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt ({reason})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a checkpoint (no state_dict)")
    return checkpoint


def checkpoint_config(checkpoint: dict[str, Any]) -> dict[str, Any]:
    config = checkpoint.get("config") or {}
    return config if isinstance(config, dict) else {}


def load_pretrained(model: nn.Module, path: str | os.PathLike, text_encoder: str | None = None,
                    text_pooling: str | None = None, checkpoint: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Copy into ``model`` every parameter the checkpoint shares with it, domain tables excepted.

    ``text_encoder`` / ``text_pooling``: this run's settings; one that differs from the
    checkpoint's is an error (its adaptor was trained on other text vectors). Returns the names
    ``loaded``, ``new`` (in the model only) and ``skipped`` (in the checkpoint only, or
    domain-specific). A shape that differs is an error naming the parameter. ``checkpoint``: the
    file's content where the caller has loaded it already (:func:`load_checkpoint`).
    """
    logger = getLogger()
    if checkpoint is None:
        checkpoint = load_checkpoint(path, map_location="cpu")
    config = checkpoint_config(checkpoint)
    for key, ours in (("text_encoder", text_encoder), ("text_pooling", text_pooling)):
        theirs = config.get(key)
        if ours is not None and theirs is not None and theirs != ours:
            raise CheckpointError(f"{path}: made with {key} {theirs!r}, but this run uses {ours!r}; set --{key}={theirs}")
    source = checkpoint.get("state_dict")
    target = model.state_dict()
    loaded, skipped = [], []
    for name, value in source.items():
        if name not in target or name.startswith(DOMAIN_SPECIFIC):
            skipped.append(name)
            continue
        if tuple(value.shape) != tuple(target[name].shape):
            hint = "different hidden_size, n_exps or text vectors?"
            if checkpoint.get("imported_from"):
                hint = ("it was imported from the original UniSRec code: use its text vectors, "
                        "python -m recbole_unisrec convert unisrec-files, then --text_encoder=imported:feat1CLS")
            raise CheckpointError(f"{path}: parameter {name} has shape {tuple(value.shape)} in the checkpoint but "
                                  f"{tuple(target[name].shape)} in this model ({hint})")
        loaded.append(name)
    new = [name for name in target if name not in loaded]
    missing = [name for name in new if not name.startswith(("moe_adaptor.", *DOMAIN_SPECIFIC))]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"{path}: no weights for {missing[0]}{more} (the sequence encoder this run would "
                              "keep from the checkpoint): not a pre-trained model of this architecture")
    model.load_state_dict({name: source[name] for name in loaded}, strict=False)
    domains = checkpoint.get("domains") or [config.get("dataset", "unknown")]
    logger.info(f"Loaded {path}: pre-trained on {', '.join(map(str, domains))}")
    logger.info(f"  parameters loaded ({len(loaded)}): {', '.join(loaded)}")
    logger.info(f"  parameters new ({len(new)}): {', '.join(new) or 'none'}")
    if skipped:
        logger.info(f"  parameters skipped ({len(skipped)}): {', '.join(skipped)}")
    return {"loaded": loaded, "new": new, "skipped": skipped}


def freeze_for_finetuning(model: nn.Module) -> None:
    """Parameter-efficient fine-tuning: the Transformer and position embedding stay as pre-trained
    (:data:`FROZEN_IN_FINETUNING`); the adaptor, the input LayerNorm and an ID embedding train."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not name.startswith(FROZEN_IN_FINETUNING)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def write_slim_checkpoint(source: str | os.PathLike, output: str | os.PathLike) -> dict[str, Any]:
    """Write ``source`` without its :data:`RESUME_STATE` to ``output`` (whole or not at all).

    The copy fine-tunes, evaluates and serves exactly as the source (the same ``state_dict``); it
    records where it came from in ``slimmed_from``, and resuming training from it is refused."""
    checkpoint = load_checkpoint(source)
    dropped = [key for key in RESUME_STATE if key in checkpoint]
    if not dropped:
        raise CheckpointError(f"{source}: holds no optimizer or resume state, nothing to drop")
    slim = {key: value for key, value in checkpoint.items() if key not in RESUME_STATE}
    slim["slimmed_from"] = {"file": os.path.basename(str(source)), "dropped": dropped}
    save_checkpoint(slim, output)
    return {"source": str(source), "output": str(output), "dropped": dropped,
            "bytes_before": os.path.getsize(source), "bytes_after": os.path.getsize(output)}
