"""Item vectors, as the model builds them: ``adaptor(text vector)``, plus a learned ID vector where
the item has one; kept as unit vectors and norms in buffers with spare capacity.

The catalog's buffers (held by :class:`~recbole_unisrec.serving.Recommender`): ``unit_t``, the
unit vectors stored transposed (``[hidden, capacity]``: a query against the catalog is then a
row-by-matrix product over contiguous rows, about 2x faster than against ``[capacity, hidden]``
on CPU), ``norm`` (an item's vector as the Transformer reads it in a history is unit * norm),
and ``text_only`` (the item has no learned ID vector). Rows at or past the catalog's size are
invisible until committed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from recbole_unisrec.serving.errors import EncoderMismatchError
from recbole_unisrec.text.encoder import EncoderSpec, ModelLoadError

if TYPE_CHECKING:
    from recbole_unisrec.model.unisrec import UniSRec

#: Rows per adaptor pass when item vectors are computed (bounds the temporary memory).
ADAPT_CHUNK = 4096


def encode_distinct(texts: list[str], spec: EncoderSpec) -> np.ndarray:
    """The text vectors of ``texts`` (each distinct text encoded once), ``[len(texts), d]``."""
    from recbole_unisrec.text.encoder import encode_texts

    unique = list(dict.fromkeys(texts))
    try:
        encoded = encode_texts(unique, spec)
    except ModelLoadError as error:
        raise EncoderMismatchError(f"cannot encode item texts: {str(error).splitlines()[0]}") from None
    if len(unique) == len(texts):
        return encoded
    where = {text: row for row, text in enumerate(unique)}
    return encoded[[where[text] for text in texts]]


@torch.inference_mode()
def new_item_vectors(model: UniSRec, texts: list[str], learned_rows: list[int], vectors: np.ndarray | None, *,
                     spec: EncoderSpec, text_row: dict[str, int], unit_t: torch.Tensor, norm: torch.Tensor,
                     use_learned: bool, hidden_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors ``[m, hidden]`` and norms ``[m]`` of new items, as the model builds them:
    ``adaptor(text vector)``, plus the learned ID vector where ``learned_rows`` is not 0.

    Equal texts get bitwise equal vectors (so equal scores): a text-only item whose text is
    in the catalog already (``text_row``: text -> a text-only row of ``unit_t`` / ``norm``)
    copies that item's vector, and each other distinct text is encoded with ``spec`` (unless
    ``vectors`` are given: its first row's vector is used) and adapted once. ``use_learned``:
    the model adds learned ID vectors (a transductive catalog).
    """
    m = len(texts)
    unit = torch.empty(m, hidden_size, device=device)
    new_norm = torch.empty(m, device=device)
    reuse_at, reuse_from = [], []
    compute_at, distinct_of = [], []      # positions to compute, and the distinct text of each
    first_position: dict[str, int] = {}   # distinct text -> the first position that has it
    index_of: dict[str, int] = {}
    for position, (text, learned) in enumerate(zip(texts, learned_rows)):
        row = None if learned else text_row.get(text)
        if row is not None:
            reuse_at.append(position)
            reuse_from.append(row)
            continue
        if text not in index_of:
            index_of[text] = len(index_of)
            first_position[text] = position
        compute_at.append(position)
        distinct_of.append(index_of[text])
    if reuse_at:
        source = torch.tensor(reuse_from, dtype=torch.long, device=device)
        at = torch.tensor(reuse_at, dtype=torch.long, device=device)
        unit[at] = unit_t[:, source].T
        new_norm[at] = norm[source]
    if compute_at:
        distinct = list(index_of)
        if vectors is None:
            text_vectors = encode_distinct(distinct, spec)
        else:
            text_vectors = vectors[[first_position[text] for text in distinct]]
        adapted = torch.empty(len(distinct), hidden_size, device=device)
        for begin in range(0, len(distinct), ADAPT_CHUNK):
            chunk = torch.from_numpy(np.array(text_vectors[begin:begin + ADAPT_CHUNK], dtype=np.float32))
            adapted[begin:begin + len(chunk)] = model.moe_adaptor(chunk.to(device))
        full = adapted[torch.tensor(distinct_of, dtype=torch.long, device=device)]
        if use_learned:
            ids = torch.tensor([learned_rows[p] for p in compute_at], dtype=torch.long, device=device)
            has = ids > 0
            full[has] += model.item_embedding.weight[ids[has]]
        lengths = full.norm(dim=1).clamp_min(1e-12)
        at = torch.tensor(compute_at, dtype=torch.long, device=device)
        unit[at] = full / lengths[:, None]
        new_norm[at] = lengths
    return unit, new_norm


def with_room(unit_t: torch.Tensor, norm: torch.Tensor, text_only: np.ndarray, used: int,
              needed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The buffers, or larger copies of their first ``used`` rows where they hold fewer than
    ``needed`` (grown by a quarter at least, so adding often stays cheap)."""
    if needed <= unit_t.shape[1]:
        return unit_t, norm, text_only
    capacity = max(needed, int(unit_t.shape[1] * 1.25), 1024)
    grown_unit_t = torch.empty(unit_t.shape[0], capacity, device=unit_t.device)
    grown_unit_t[:, :used] = unit_t[:, :used]
    grown_norm = torch.empty(capacity, device=norm.device)
    grown_norm[:used] = norm[:used]
    grown_text_only = np.zeros(capacity, dtype=bool)
    grown_text_only[:used] = text_only[:used]
    return grown_unit_t, grown_norm, grown_text_only


def without_rows(unit_t: torch.Tensor, norm: torch.Tensor, text_only: np.ndarray, used: int,
                 rows: list[int]) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, np.ndarray]:
    """The first ``used`` rows of the buffers except ``rows``, as new tight buffers, and the mask
    of the rows kept."""
    keep = np.ones(used, dtype=bool)
    keep[rows] = False
    keep_index = torch.from_numpy(np.flatnonzero(keep)).to(unit_t.device)
    return keep, unit_t[:, keep_index].contiguous(), norm[keep_index].clone(), text_only[:used][keep].copy()
