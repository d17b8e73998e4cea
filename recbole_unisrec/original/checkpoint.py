"""Checkpoints of the original UniSRec code, imported into this project's checkpoint format.

The original model is RecBole's ``TransformerEncoder`` plus the MoE adaptor. Its weights map
onto this project's modules one to one, except that each layer's separate ``query`` / ``key`` /
``value`` projections become one fused ``qkv`` projection (concatenated in that order, which is
the order :class:`~recbole_unisrec.model.layers.CausalTransformerLayer` splits them in):

    trm_encoder.layer.N.multi_head_attention.{query,key,value}  ->  trm_encoder.layers.N.qkv
    trm_encoder.layer.N.multi_head_attention.dense / LayerNorm  ->  ...attn_out / attn_norm
    trm_encoder.layer.N.feed_forward.dense_1 / dense_2 / LayerNorm  ->  ...ffn_in / ffn_out / ffn_norm

``position_embedding``, ``LayerNorm``, ``item_embedding`` (transductive) and ``moe_adaptor.*``
keep their names. ``plm_embedding`` (a fine-tuned file's copy of its data set's text vectors) is
data, not a parameter here, and is left out; so is the optimizer state (it refers to the
original's parameter order).
"""
from __future__ import annotations

import logging
import os
import re
import zipfile
from collections import defaultdict
from typing import Any

import torch

from recbole_unisrec.fileio import CheckpointError, save_checkpoint
from recbole_unisrec.compat import plain_config
from recbole_unisrec.original import DEFAULT_PLM_SUFFIX
from recbole_unisrec.original.unpickler import read_original
from recbole_unisrec.text.encoder import imported_encoder

logger = logging.getLogger(__name__)

ORIGINAL_CODE = "RUCAIBox/UniSRec"

_RECBOLE_CONFIG_MODULE = b"recbole.config.configurator"
_LARGEST_PICKLE = 64 << 20

_KEPT = {"position_embedding.weight", "LayerNorm.weight", "LayerNorm.bias", "item_embedding.weight"}
_KEPT_PREFIX = "moe_adaptor."
_LEFT_OUT = {"plm_embedding.weight"}
_FUSED_PARTS = ("query", "key", "value")
_RENAMED_IN_LAYER = {
    "multi_head_attention.dense": "attn_out",
    "multi_head_attention.LayerNorm": "attn_norm",
    "feed_forward.dense_1": "ffn_in",
    "feed_forward.dense_2": "ffn_out",
    "feed_forward.LayerNorm": "ffn_norm",
}
_LAYER_PARAMETER = re.compile(r"trm_encoder\.layer\.(\d+)\.(\w+\.\w+)\.(weight|bias)")


def is_original_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PyTorch archive whose pickle names RecBole's Config, as the original
    code's checkpoints do (the pickle's bytes are searched, nothing is unpickled)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [info for info in archive.infolist() if info.filename.rpartition("/")[2] == "data.pkl"]
            if len(pickles) != 1 or pickles[0].file_size > _LARGEST_PICKLE:
                return False
            return _RECBOLE_CONFIG_MODULE in archive.read(pickles[0])
    except (OSError, zipfile.BadZipFile):
        return False


def map_original_weights(state_dict: dict[str, Any], path: str | os.PathLike = "checkpoint") -> dict[str, torch.Tensor]:
    """The original's parameters under this project's names (see the module docstring)."""
    mapped: dict[str, torch.Tensor] = {}
    fused: dict[tuple[int, str], dict[str, torch.Tensor]] = defaultdict(dict)
    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict entry {name} is a {type(value).__name__}, not a tensor")
        value = value.detach()  # plain tensors: no hooks or autograd state from the file
        if name in _LEFT_OUT:
            continue
        if name in _KEPT or name.startswith(_KEPT_PREFIX):
            mapped[name] = value
            continue
        layer = _LAYER_PARAMETER.fullmatch(name)
        index, module, kind = (int(layer[1]), layer[2], layer[3]) if layer else (-1, "", "")
        block, _, part = module.partition(".")
        if block == "multi_head_attention" and part in _FUSED_PARTS:
            fused[(index, kind)][part] = value
        elif module in _RENAMED_IN_LAYER:
            mapped[f"trm_encoder.layers.{index}.{_RENAMED_IN_LAYER[module]}.{kind}"] = value
        else:
            raise CheckpointError(f"{path}: parameter {name} has no counterpart in this project's UniSRec")
    for (index, kind), parts in sorted(fused.items()):
        missing = [part for part in _FUSED_PARTS if part not in parts]
        if missing:
            raise CheckpointError(f"{path}: trm_encoder.layer.{index}.multi_head_attention.{missing[0]}.{kind} is missing")
        mapped[f"trm_encoder.layers.{index}.qkv.{kind}"] = torch.cat([parts[part] for part in _FUSED_PARTS])
    for required in ("trm_encoder.layers.0.qkv.weight", "moe_adaptor.experts.0.bias"):
        if required not in mapped:
            raise CheckpointError(f"{path}: no {required.split('.')[0]} weights: not a UniSRec checkpoint")
    return mapped


def import_original_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint of the original ``pretrain.py`` / ``finetune.py`` in this project's format:
    ``state_dict`` (this project's names), ``config`` (RecBole's final config as plain values),
    ``domains``, ``text_encoder`` (the imported vectors it was trained on) and ``imported_from``.
    Read without running code (:func:`~recbole_unisrec.original.unpickler.read_original`)."""
    from recbole_unisrec.model.rebuild import build_model

    content = read_original(path, map_location)
    final = content["config"].attributes.get("final_config_dict")
    if not isinstance(final, dict):
        raise CheckpointError(f"{path}: its RecBole config has no final_config_dict")
    config = plain_config(final)
    if config.get("model") != "UniSRec":
        raise CheckpointError(f"{path}: a RecBole {config.get('model')!r} checkpoint; only UniSRec checkpoints are imported")
    state_dict = map_original_weights(content["state_dict"], path)
    try:
        build_model(state_dict, config)  # every weight has its place, and the config sizes them all
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    suffix = str(config.get("plm_suffix") or DEFAULT_PLM_SUFFIX)
    dim = int(state_dict["moe_adaptor.experts.0.bias"].shape[0])
    epoch, best = content.get("epoch"), content.get("best_valid_score")
    checkpoint = {
        "state_dict": state_dict,
        "config": config,
        "domains": [str(config.get("dataset"))],
        "text_encoder": {"model": imported_encoder(suffix), "pooling": None, "dim": dim, "imported": True},
        "imported_from": {
            "code": ORIGINAL_CODE,
            "file": os.path.basename(str(path)),
            "train_stage": config.get("train_stage"),
            "epoch": epoch if isinstance(epoch, int) else None,
            "best_valid_score": float(best) if isinstance(best, (int, float)) else None,
        },
    }
    logger.info(f"{path}: imported from the original UniSRec code (read as data, no code run): "
                f"{config.get('train_stage')} checkpoint of {config.get('dataset')}, {len(state_dict)} tensors, "
                f"trained on {dim}-d text vectors ({suffix})")
    return checkpoint


def write_imported_checkpoint(source: str | os.PathLike, output: str | os.PathLike) -> dict[str, Any]:
    """Import ``source`` once and write it to ``output`` (whole or not at all), loadable with
    ``torch.load(weights_only=True)``. Returns a summary."""
    if not is_original_checkpoint(source):
        raise CheckpointError(f"{source}: not a checkpoint of the original UniSRec code (its pickle names no RecBole Config)")
    checkpoint = import_original_checkpoint(source)
    save_checkpoint(checkpoint, output)
    return {
        "source": str(source),
        "output": str(output),
        "train_stage": checkpoint["config"].get("train_stage"),
        "dataset": checkpoint["config"].get("dataset"),
        "parameters": len(checkpoint["state_dict"]),
        "text_encoder": checkpoint["text_encoder"]["model"],
        "text_dim": checkpoint["text_encoder"]["dim"],
    }
