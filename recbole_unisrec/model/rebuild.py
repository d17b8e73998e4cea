"""A UniSRec rebuilt from a checkpoint's weights and plain config alone, with no data set.

Serving (:mod:`recbole_unisrec.serving`), the import of the original code's checkpoints
(:mod:`recbole_unisrec.original.checkpoint`) and the anisotropy analysis build their model here.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbole_unisrec.fileio import CheckpointError
from recbole_unisrec.model.unisrec import UniSRec


class _ItemCountOnly:
    """An :class:`~recbole_unisrec.model.unisrec.ItemTextSource` with no data: the item count and
    the text width (one zero row; the catalog's vectors live in the Recommender)."""

    def __init__(self, n_items: int, plm_size: int):
        self.n_items = n_items
        self.plm_embedding = nn.Embedding.from_pretrained(torch.zeros(1, plm_size))

    def num(self, field: str) -> int:
        return self.n_items


class _PlainConfig(dict):
    """A checkpoint's plain config read like RecBole's Config: a missing key is ``None``."""

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


def build_model(state_dict: dict[str, torch.Tensor], config: dict[str, Any], device: str = "cpu") -> UniSRec:
    """A :class:`~recbole_unisrec.model.UniSRec` in eval mode, from weights and a plain config."""
    try:
        plm_size = int(state_dict["moe_adaptor.experts.0.bias"].shape[0])
    except KeyError:
        raise CheckpointError("checkpoint has no MoE adaptor weights (moe_adaptor.experts.0.bias)") from None
    n_items = int(state_dict["item_embedding.weight"].shape[0]) if "item_embedding.weight" in state_dict else 1
    config = _PlainConfig(config, device=device)
    config.setdefault("LIST_SUFFIX", "_list")
    config.setdefault("NEG_PREFIX", "neg_")
    config.setdefault("ITEM_LIST_LENGTH_FIELD", "item_length")
    with torch.random.fork_rng():  # building initialises weights; keep the caller's RNG as it was
        model = UniSRec(config, _ItemCountOnly(n_items, plm_size))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint weights do not fit its config: {str(error).splitlines()[0]} ...") from None
    model.text_vectors = torch.zeros(0, plm_size)  # the catalog's vectors live in the Recommender
    return model.to(device).eval()
