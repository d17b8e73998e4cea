"""References computed independently of RecBole's evaluator, this project's ranking code and its
serving code: metrics from a model's own scores, and a checkpoint's top items for one history."""
from __future__ import annotations

import numpy as np
import torch


def brute_force_metrics(model, loader, ks=(10, 50)) -> dict[str, float]:
    """Full-sort Recall@K and NDCG@K recomputed from the model's own scores, independently of
    RecBole's evaluator and of ``recbole_unisrec.ranking``: one target per test row, whose rank is
    1 + the number of real items (the padding item 0 left out) scoring strictly higher."""
    model.eval()
    ranks = []
    with torch.no_grad():
        for interaction, history, _, targets in loader:
            assert history is None  # a sequential full-sort loader masks no history
            scores = model.full_sort_predict(interaction).reshape(len(interaction), -1).double().numpy()
            target_scores = scores[np.arange(len(scores)), targets.numpy()]
            ranks.extend(1 + (scores[:, 1:] > target_scores[:, None]).sum(axis=1))
    ranks = np.asarray(ranks, dtype=np.float64)
    metrics = {}
    for k in ks:
        metrics[f"recall@{k}"] = float(np.mean(ranks <= k))
        metrics[f"ndcg@{k}"] = float(np.mean(np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)))
    return metrics


def model_top_items(checkpoint: str, dataset: str, data_root, history: list[str], k: int) -> list[str]:
    """The raw ids of the ``k`` best items for ``history`` (raw ids, oldest first), scored over all of
    ``dataset``'s items by the checkpoint rebuilt through RecBole's data set; history items excluded."""
    from pathlib import Path

    from recbole.data.interaction import Interaction

    from recbole_unisrec.evaluation import load_for_evaluation

    evaluation = load_for_evaluation(checkpoint, dataset=dataset, data_root=data_root)
    lines = (Path(data_root) / dataset / f"{dataset}.item2index").read_text().splitlines()
    raw_of_index = {index: raw for raw, index in (line.split("\t") for line in lines)}
    tokens = evaluation.train_dataset.field2id_token["item_id"]
    internal = {raw_of_index[token]: i for i, token in enumerate(tokens) if token in raw_of_index}
    batch = Interaction({"item_id_list": torch.tensor([[internal[raw] for raw in history]]),
                         "item_length": torch.tensor([len(history)])})
    with torch.no_grad():
        scores = evaluation.model.full_sort_predict(batch)[0]
    scores[[0, *(internal[raw] for raw in history)]] = -float("inf")
    return [raw_of_index[tokens[i]] for i in torch.topk(scores, k).indices.tolist()]
