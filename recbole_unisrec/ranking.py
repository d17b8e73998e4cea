"""Ranking a trained model's targets and the metrics from the ranks; no config, data set or model is built here.

* :func:`rank_targets` ranks every row's target over all items exactly as RecBole's full-sort
  evaluation ranks it, and :func:`metrics_from_ranks` gives RecBole's Recall@K and NDCG@K;
* :class:`ZeroShotTarget` / :func:`evaluate_zero_shot`: a UniSRec (any stage, text only) scored on
  a data set it never trained on, by swapping that data set's text vectors in. Pre-training uses it
  to watch transfer while it trains (``transfer_eval``).

:mod:`recbole_unisrec.evaluation` (which rebuilds checkpoints, data sets and zero-shot targets,
through the registry) offers all of these too; the trainer imports them from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader


@dataclass
class TargetRanks:
    """One row per test user: internal user id, target item id and the target's 1-based rank;
    with ``keep_top``, also the ``top`` items ranked first (``[users, top]``, best first)."""

    users: np.ndarray
    targets: np.ndarray
    ranks: np.ndarray
    top_items: np.ndarray | None = None


@torch.no_grad()
def rank_targets(model: torch.nn.Module, eval_data: AbstractDataLoader, top: int, keep_top: bool = False) -> TargetRanks:
    """Rank every row's target over all items as RecBole's full-sort evaluation does.

    Scores come from ``model.full_sort_predict`` on ``eval_data``'s own batches; the padding item
    and (where the loader gives them) history items are set to ``-inf``. A target among
    ``torch.topk(scores, top)`` gets its position there (RecBole's order, ties included);
    any other gets ``max(top + 1, 1 + #items scoring higher)``.
    """
    model.eval()
    dataset = eval_data._dataset
    n_items = int(dataset.item_num)
    uid_field = dataset.uid_field
    device = next(model.parameters()).device
    users, targets, ranks, tops = [], [], [], []
    for interaction, history_index, positive_u, positive_i in eval_data:
        if not torch.equal(positive_u, torch.arange(len(interaction))):
            raise ValueError("rank_targets needs one target per row (a sequential model's full-sort loader)")
        scores = model.full_sort_predict(interaction.to(device)).view(-1, n_items)
        scores[:, 0] = -np.inf
        if history_index is not None:
            scores[history_index] = -np.inf
        target = positive_i.to(scores.device)
        top_items = torch.topk(scores, min(top, n_items), dim=-1).indices
        hit = top_items == target.unsqueeze(1)
        found = hit.any(dim=1)
        in_top = hit.float().argmax(dim=1) + 1
        target_scores = scores.gather(1, target.unsqueeze(1))
        higher = (scores > target_scores).sum(dim=1) + 1
        rank = torch.where(found, in_top, torch.clamp(higher, min=top + 1))
        users.append(interaction[uid_field].cpu())
        targets.append(target.cpu())
        ranks.append(rank.cpu())
        if keep_top:
            tops.append(top_items.cpu())
    return TargetRanks(torch.cat(users).numpy(), torch.cat(targets).numpy(), torch.cat(ranks).numpy().astype(np.int64),
                       torch.cat(tops).numpy() if keep_top else None)


def require_cutoffs_within_catalog(cutoffs: Sequence[int], item_num: int, dataset_name: str) -> None:
    """A cut-off larger than the catalogue fails deep in RecBole's evaluator ("selected index k out
    of range"); say which setting instead. ``item_num`` counts the padding item 0, which is never ranked."""
    items = item_num - 1
    too_large = [k for k in cutoffs if k > items]
    if too_large:
        raise ValueError(f"topk: cut-off {max(too_large)} is larger than the {items} items of {dataset_name}; "
                         f"give cut-offs of at most {items}")


def ndcg_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per row: ``1 / log2(rank + 1)`` if ``rank <= k`` else 0 (one relevant item per row)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def recall_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per row: 1 if the target is within the top ``k`` else 0."""
    return (np.asarray(ranks) <= k).astype(np.float64)

def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = (10, 50)) -> dict[str, float]:
    """RecBole's ``recall@k`` and ``ndcg@k`` (means over rows) for every ``k``."""
    metrics = {}
    for k in ks:
        metrics[f"recall@{k}"] = float(recall_at(ranks, k).mean())
        metrics[f"ndcg@{k}"] = float(ndcg_at(ranks, k).mean())
    return metrics


# --------------------------------------------------------------------------------------------
# Zero-shot evaluation of a UniSRec on another data set
# --------------------------------------------------------------------------------------------

@dataclass
class ZeroShotTarget:
    """One data set's evaluation split and text vectors, ready to score any UniSRec on."""

    name: str
    split: str
    loader: Any
    text_vectors: torch.Tensor  # [items + 1, d], row = RecBole's internal item id of ``loader``

    @property
    def users(self) -> int:
        return len(self.loader._dataset)


@torch.no_grad()
def evaluate_zero_shot(model: torch.nn.Module, target: ZeroShotTarget, ks: Sequence[int] = (10, 50)) -> dict[str, float]:
    """``model`` (a UniSRec) as a text-only recommender on ``target``: its adaptor and Transformer
    over the target's text vectors, no training, no ID embedding. The model and every random
    generator are left as they were."""
    original, was_training = model.text_vectors, model.training
    if original.shape[1] != target.text_vectors.shape[1]:
        raise ValueError(f"{target.name}: its text vectors are {target.text_vectors.shape[1]}-d, the model's {original.shape[1]}-d")
    stage = model.train_stage
    devices = [original.device] if original.device.type == "cuda" else []
    try:
        model.text_vectors = target.text_vectors.to(original.device)
        model.train_stage = "inductive_ft"  # text only, whatever the model was trained as
        with torch.random.fork_rng(devices=devices):
            ranks = rank_targets(model, target.loader, max(ks)).ranks
    finally:
        model.text_vectors, model.train_stage = original, stage
        model.train(was_training)
    return metrics_from_ranks(ranks, ks)
