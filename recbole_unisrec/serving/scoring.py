"""Scoring histories against the catalog: one Transformer pass over each history, one matrix
product against the catalog's item vectors, and the top items in a batch-independent order.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from recbole_unisrec.model.unisrec import UniSRec

#: Items scoring within this much (logit units) of the k-th best are rescored exactly; far above
#: float32's error on a cosine / temperature (about 1e-5).
RESCORE_MARGIN = 1e-3


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads (``None``: as set), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.inference_mode()
def top_items(model: UniSRec, unit_t: torch.Tensor, norm: torch.Tensor, batch_rows: list[list[int]], k: int,
              exclude_history: bool, max_history: int, temperature: float,
              device: torch.device) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``k`` best catalog rows after each history (catalog rows, oldest first), best first:
    ``(rows, scores)`` per history, excluded history items left out.

    ``unit_t`` ``[hidden, n]`` and ``norm`` ``[n]``: the catalog's unit item vectors and their
    norms; a score is cosine similarity / ``temperature`` (the model's logit).
    """
    n = unit_t.shape[1]
    trimmed = [rows[-max_history:] for rows in batch_rows]
    lengths = np.array([len(rows) for rows in trimmed])
    index = np.zeros((len(trimmed), int(lengths.max())), dtype=np.int64)
    for b, rows in enumerate(trimmed):
        index[b, : len(rows)] = rows
    index = torch.from_numpy(index).to(device)
    lengths = torch.from_numpy(lengths).to(device)
    # the items as the model reads them, left-aligned; padding is hidden by the causal mask
    item_emb = unit_t.T[index] * norm[index].unsqueeze(-1)
    sequence = F.normalize(model.forward(item_emb, lengths), dim=-1)
    scores = (sequence / temperature) @ unit_t  # cosine / temperature, one product
    if exclude_history:
        for b, rows in enumerate(batch_rows):
            scores[b, rows] = float("-inf")
    top = min(k, n)
    kth = torch.topk(scores, top, dim=1).values[:, -1:]
    # The float32 product is one pass over the catalog, but its rounding depends on an item's
    # column and on the batch: equal vectors (e.g. equal texts) can differ in the last bit.
    # Every item within RESCORE_MARGIN of the k-th score is scored again in float64 and
    # rounded to float32, so equal vectors get equal scores; equal scores rank by catalog
    # position. Results thus do not depend on the batch, up to the float rounding of the
    # history's own vector.
    candidates_mask = scores >= kth - RESCORE_MARGIN
    sequence64 = sequence.double() / temperature
    ranked = []
    for b in range(len(batch_rows)):
        candidates = torch.nonzero(candidates_mask[b]).squeeze(1)
        exact = (unit_t[:, candidates].T.double() @ sequence64[b]).float()
        exact[scores[b, candidates] == float("-inf")] = float("-inf")  # excluded history items
        row_scores, row_items = exact.cpu().numpy(), candidates.cpu().numpy()
        order = np.lexsort((row_items, -row_scores))[:top]
        kept = row_scores[order] != float("-inf")
        ranked.append((row_items[order][kept], row_scores[order][kept]))
    return ranked
