"""Where a checkpoint's zero-shot accuracy comes from: by the target's popularity and by how alike
its text is to the last item's. Made to see why pre-training lowers zero-shot accuracy.

For every checkpoint and data set (validation split, full ranking, as `python -m recbole_unisrec
evaluate` ranks), prints NDCG@10 over all rows; over three equal thirds of the rows sorted by their
target's popularity (head, middle, tail); over three thirds sorted by the cosine of the target's
text vector with the last history item's (near: the most alike third, far: the least); the mean
popularity percentile of the ten items ranked first against that of the targets; and the mean text
cosine of those ten items with the last history item. Popularity: how often an item is a next item
in the data set's training split; percentile 100 is the most popular item.

    OMP_NUM_THREADS=1 python bench/zero_shot_breakdown.py -d Beauty Yelp Office -p CKPT [CKPT ...]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

import recbole_unisrec  # noqa: F401  (applies the library compatibility fixes)
from recbole_unisrec.evaluation import load_for_evaluation, ndcg_at, rank_targets

TOP = 10
RANKED = 50
"""Ranks come from the top 50, as `evaluate` and RecBole rank (with tied scores, the order inside a
top 10 can depend on how many items the top-k call returns)."""


def popularity_percentiles(train_dataset) -> np.ndarray:
    """Per item id: the percentile (0-100] of its next-item count in the training split (padding: 0)."""
    counts = np.bincount(train_dataset.inter_feat[train_dataset.iid_field].numpy(), minlength=int(train_dataset.item_num))
    percentiles = 100.0 * rankdata(counts[1:], method="average") / (len(counts) - 1)
    return np.concatenate([[0.0], percentiles])


def last_items(loader) -> np.ndarray:
    """The last history item of every row, in the loader's (fixed) order."""
    rows = [interaction["item_id_list"][torch.arange(len(interaction)), interaction["item_length"] - 1]
            for interaction, *_ in loader]
    return torch.cat(rows).numpy()


def thirds(values: np.ndarray) -> list[np.ndarray]:
    """Row indices in three equal groups, largest values first."""
    return np.array_split(np.argsort(-values, kind="stable"), 3)


def breakdown_row(checkpoint: str, dataset: str) -> dict[str, float]:
    evaluation = load_for_evaluation(checkpoint, dataset)
    ranked = rank_targets(evaluation.model, evaluation.valid_data, RANKED, keep_top=True)
    top_items = ranked.top_items[:, :TOP]
    percentile = popularity_percentiles(evaluation.train_dataset)
    text = F.normalize(evaluation.model.text_vectors.detach().cpu().float(), dim=-1)
    last = text[last_items(evaluation.valid_data)]
    target_cosine = (last * text[ranked.targets]).sum(-1).numpy()
    top_cosine = torch.einsum("nh,nkh->nk", last, text[top_items]).numpy()
    ndcg = ndcg_at(ranked.ranks, TOP)
    row = {"ndcg@10": ndcg.mean()}
    row.update({name: ndcg[rows].mean() for name, rows in zip(("head", "middle", "tail"), thirds(percentile[ranked.targets]))})
    row.update({name: ndcg[rows].mean() for name, rows in zip(("near", "mid", "far"), thirds(target_cosine))})
    row.update({"top-10 percentile": percentile[top_items].mean(), "target percentile": percentile[ranked.targets].mean(),
                "top-10 cosine": top_cosine.mean(), "target cosine": target_cosine.mean()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--datasets", nargs="+", required=True)
    parser.add_argument("-p", "--checkpoints", nargs="+", required=True)
    args = parser.parse_args()
    columns = ["ndcg@10", "head", "middle", "tail", "near", "mid", "far", "top-10 percentile", "target percentile",
               "top-10 cosine", "target cosine"]
    print("NDCG@10 of all rows; of the thirds by target popularity (head, middle, tail); of the thirds by "
          "the target's text cosine with the last item (near, mid, far)")
    print("| data set | checkpoint | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for dataset in args.datasets:
        for checkpoint in args.checkpoints:
            row = breakdown_row(checkpoint, dataset)
            cells = [f"{row[c]:.1f}" if "percentile" in c else f"{row[c]:.4f}" if c in columns[:7] else f"{row[c]:.3f}"
                     for c in columns]
            print(f"| {dataset} | {checkpoint} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
