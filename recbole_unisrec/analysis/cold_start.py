"""Cold-start analysis: test NDCG@K and Recall@K grouped by the target item's training popularity.

An item's popularity is the number of its interactions in the training split. The training file
holds one row per prefix ``(user, item_id_list, target)``, so each training interaction is
counted once as every row's target plus, per user, the first item of the history
(``item_id_list[0]`` of the user's shortest training row; a user with three items has no training
row, and none of their items counts). Counts come from the RecBole train dataset, i.e. exactly
the rows a model trains on.

Test users are grouped by the count of their test target (default groups ``0``, ``1-4``,
``5-9``, ``10+``; :func:`popularity_groups`). For a saved checkpoint (any sequential model saved
by ``quick_start.run`` / ``baselines.run_baseline``: UniSRec in any stage, SASRec, FDSAText, ...)
the config, data set and model are rebuilt (:func:`load_for_evaluation`) and every test user's
target is ranked over all items as RecBole's full-sort evaluation ranks it (same loader and
batches, the padding item masked, and history items masked only where RecBole's loader masks
them, which it does not for sequential models; ranks within ``max(topk)`` taken from
``torch.topk`` as RecBole's collector takes them). ``NDCG@K = 1 / log2(rank + 1)`` if
``rank <= K`` else 0; ``Recall@K = [rank <= K]``; the mean over all users is RecBole's test
NDCG@K / Recall@K (tested).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch

from recbole_unisrec.evaluation import (  # noqa: F401  (load_for_evaluation, rank_targets: this module's API too)
    Evaluation, TargetRanks, load_for_evaluation, ndcg_at, rank_targets, recall_at,
)

if TYPE_CHECKING:
    from recbole.data.dataset import SequentialDataset

DEFAULT_BINS = (0, 1, 5, 10)
"""Lower bounds of the popularity groups: 0, 1-4, 5-9, 10+."""



# --------------------------------------------------------------------------------------------
# Popularity and groups (pure functions)
# --------------------------------------------------------------------------------------------

def group_labels(bins: Sequence[int] = DEFAULT_BINS) -> list[str]:
    """``[0, 1, 5, 10]`` -> ``["0", "1-4", "5-9", "10+"]``."""
    bins = check_bins(bins)
    labels = []
    for low, high in zip(bins, [*bins[1:], None]):
        if high is None:
            labels.append(f"{low}+")
        elif high - 1 == low:
            labels.append(f"{low}")
        else:
            labels.append(f"{low}-{high - 1}")
    return labels


def check_bins(bins: Sequence[int]) -> list[int]:
    """Lower bounds: integers, strictly increasing, the first 0 (every count has a group)."""
    bins = [int(b) for b in bins]
    if not bins or bins[0] != 0:
        raise ValueError(f"popularity bins are lower bounds starting at 0, got {bins}")
    if any(b >= c for b, c in zip(bins, bins[1:])):
        raise ValueError(f"popularity bins must increase strictly, got {bins}")
    return bins


def popularity_groups(counts: Sequence[int] | np.ndarray | Mapping[int, int], targets: Sequence[int] | np.ndarray,
                      bins: Sequence[int] = DEFAULT_BINS) -> dict[str, np.ndarray]:
    """Which test rows fall in each popularity group.

    ``counts``: training interactions per item (an array indexed by item id, or a mapping where
    a missing item counts 0); ``targets``: the test target item of each row. Returns
    ``{label: sorted row positions}`` for every group of :func:`group_labels` (in order, empty
    groups included); every row is in exactly one group.
    """
    bins = check_bins(bins)
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if isinstance(counts, Mapping):
        target_counts = np.array([int(counts.get(int(t), 0)) for t in targets], dtype=np.int64)
    else:
        counts = np.asarray(counts, dtype=np.int64)
        if len(targets) and (targets.min() < 0 or targets.max() >= len(counts)):
            raise ValueError(f"target item ids must lie in [0, {len(counts)}), the range of the counts")
        target_counts = counts[targets]
    if (target_counts < 0).any():
        raise ValueError("popularity counts cannot be negative")
    which = np.searchsorted(np.asarray(bins), target_counts, side="right") - 1
    return {label: np.flatnonzero(which == g) for g, label in enumerate(group_labels(bins))}


def training_counts(train_dataset: SequentialDataset) -> np.ndarray:
    """Training interactions per internal item id (``[item_num]``, index 0 the padding item).

    Every training row's target, plus the first history item of each user's shortest row.
    """
    feat = train_dataset.inter_feat
    config = train_dataset.config
    users = _numpy(feat[config["USER_ID_FIELD"]])
    targets = _numpy(feat[config["ITEM_ID_FIELD"]])
    histories = _numpy(feat[config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]])
    lengths = _numpy(feat[config["ITEM_LIST_LENGTH_FIELD"]])
    n_items = int(train_dataset.item_num)
    counts = np.bincount(targets, minlength=n_items)
    if len(users):
        order = np.lexsort((lengths, users))  # by user, then history length
        first_of_user = np.r_[True, users[order][1:] != users[order][:-1]]
        shortest = order[first_of_user]
        counts = counts + np.bincount(histories[shortest, 0], minlength=n_items)
    return counts.astype(np.int64)


def _numpy(values) -> np.ndarray:
    return values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------

@dataclass
class GroupResult:
    label: str
    users: int
    ndcg: float
    recall: float


@dataclass
class ColdStartResult:
    """One checkpoint's metrics per popularity group, and over all test users (``overall``)."""

    label: str
    path: str
    dataset: str
    k: int
    groups: list[GroupResult]
    overall: GroupResult
    item_counts: np.ndarray = field(repr=False)
    ranks: TargetRanks = field(repr=False)


def group_metrics(ranks: np.ndarray, groups: Mapping[str, np.ndarray], k: int = 10) -> list[GroupResult]:
    """Mean NDCG@k and Recall@k of the rows of each group (NaN for an empty group)."""
    ndcg, recall = ndcg_at(ranks, k), recall_at(ranks, k)
    results = []
    for label, rows in groups.items():
        if len(rows):
            results.append(GroupResult(label, len(rows), float(ndcg[rows].mean()), float(recall[rows].mean())))
        else:
            results.append(GroupResult(label, 0, math.nan, math.nan))
    return results


def analyse(evaluation: Evaluation, bins: Sequence[int] = DEFAULT_BINS, k: int = 10, label: str | None = None) -> ColdStartResult:
    """Rank the test targets of a rebuilt checkpoint and average the metrics per group."""
    counts = training_counts(evaluation.train_dataset)
    top = max(max(evaluation.config["topk"]), k)  # RecBole's collector ranks within max(topk)
    ranks = rank_targets(evaluation.model, evaluation.test_data, top)
    groups = popularity_groups(counts, ranks.targets, bins)
    everyone = {"all": np.arange(len(ranks.ranks))}
    return ColdStartResult(label or evaluation.label, evaluation.path, evaluation.config["dataset"], k, group_metrics(ranks.ranks, groups, k),
                           group_metrics(ranks.ranks, everyone, k)[0], counts, ranks)


def cold_start(checkpoints: Sequence[str], dataset: str | None = None, labels: Sequence[str] | None = None,
               bins: Sequence[int] = DEFAULT_BINS, k: int = 10, data_root: str | os.PathLike | None = None,
               overrides: list[str] | None = None) -> list[ColdStartResult]:
    """:func:`analyse` for each checkpoint on one data set; the groups must hold the same test users."""
    if labels is not None and len(labels) != len(checkpoints):
        raise ValueError(f"{len(labels)} labels for {len(checkpoints)} checkpoints")
    results = []
    for position, path in enumerate(checkpoints):
        evaluation = load_for_evaluation(path, dataset, data_root, overrides)
        results.append(analyse(evaluation, bins, k, labels[position] if labels else None))
        del evaluation
    first = results[0]
    for result in results[1:]:
        if result.dataset != first.dataset:
            raise ValueError(f"{result.path} was evaluated on {result.dataset}, {first.path} on {first.dataset}: give -d")
        if [g.users for g in result.groups] != [g.users for g in first.groups]:
            raise ValueError(f"{result.path} and {first.path} group the test users differently: not the same data set?")
    names = [r.label for r in results]
    for result in results:  # two checkpoints of the same model: tell them apart by file name
        if names.count(result.label) > 1:
            result.label = f"{result.label} {Path(result.path).name}"
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.4f}"


def markdown_report(results: Sequence[ColdStartResult], caption: str = "") -> str:
    """Two tables (NDCG@K, Recall@K): one row per group and one for all test users."""
    k = results[0].k
    lines = [caption.strip(), ""] if caption else []
    for metric, title in (("ndcg", f"NDCG@{k}"), ("recall", f"Recall@{k}")):
        lines.append(f"**{title}** by the test target's number of training interactions")
        lines.append("")
        lines.append("| Training interactions | Test users | " + " | ".join(r.label for r in results) + " |")
        lines.append("|---|---:|" + "---:|" * len(results))
        for position in range(len(results[0].groups) + 1):
            rows = [r.groups[position] if position < len(r.groups) else r.overall for r in results]
            name = rows[0].label
            lines.append(f"| {name} | {rows[0].users:,} | " + " | ".join(_cell(getattr(g, metric)) for g in rows) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(results: Sequence[ColdStartResult], path: str | os.PathLike, title: str = "") -> Path:
    """Grouped bar chart of NDCG@K: one group of bars per popularity group (and all users), one bar per model."""
    from recbole_unisrec.analysis.figures import new_figure, save_png

    k = results[0].k
    names = [f"{g.label}\n({g.users:,} users)" for g in results[0].groups]
    names.append(f"all\n({results[0].overall.users:,} users)")
    figure = new_figure(min(12.0, max(6.0, 1.0 + 0.35 * len(names) * len(results))), 4.5)
    axes = figure.add_subplot()
    width = 0.8 / len(results)
    positions = np.arange(len(names))
    for index, result in enumerate(results):
        values = [g.ndcg for g in result.groups] + [result.overall.ndcg]
        axes.bar(positions - 0.4 + width * (index + 0.5), np.nan_to_num(values), width, label=result.label)
    axes.set_xticks(positions, names)
    axes.set_xlabel("test target's interactions in training")
    axes.set_ylabel(f"NDCG@{k}")
    if title:
        axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return save_png(figure, path)


def write_report(out: str | os.PathLike, results: Sequence[ColdStartResult], caption: str = "", title: str = "") -> list[Path]:
    """``<out>.md`` and ``<out>.png``, each written whole or not at all."""
    from recbole_unisrec.fileio import atomic_write, beside
    markdown = beside(out, ".md")
    with atomic_write(markdown) as handle:
        handle.write(markdown_report(results, caption))
    return [markdown, plot(results, beside(out, ".png"), title)]
