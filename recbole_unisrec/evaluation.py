"""Evaluation outside a training run: a checkpoint rebuilt, or a model ranked zero-shot.

* :func:`load_for_evaluation` rebuilds any saved checkpoint's config, data set, loaders and model
  (``python -m recbole_unisrec evaluate``, ``run_cold_start.py``);
* :func:`rank_targets` ranks every row's target over all items exactly as RecBole's full-sort
  evaluation ranks it, and :func:`metrics_from_ranks` gives RecBole's Recall@K and NDCG@K;
* :class:`ZeroShotTarget` / :func:`evaluate_zero_shot`: a UniSRec (any stage, text only) scored on
  a data set it never trained on, by swapping that data set's text vectors in. Pre-training uses it
  to watch transfer while it trains (``transfer_eval``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from recbole_unisrec.checkpoint import CheckpointError, checkpoint_config, load_checkpoint

# Settings RecBole derives while building a Config (from the model class, the metrics, the
# device or the data set name); a checkpoint's stored values are not given back to Config.
# The negative-sampling arguments are stored in their processed form, which Config rejects as input.
DERIVED_SETTINGS = frozenset({
    "model", "dataset", "data_path", "device", "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type", "valid_metric_bigger",
    "single_spec", "local_rank", "use_gpu", "train_neg_sample_args", "valid_neg_sample_args", "test_neg_sample_args",
})

SPLITS = ("valid", "test")


@dataclass
class Evaluation:
    """What :func:`load_for_evaluation` rebuilds: the config, train dataset, evaluation loaders and model."""

    path: str
    config: Any
    train_dataset: Any
    test_data: Any
    model: torch.nn.Module
    checkpoint_config: dict[str, Any]
    valid_data: Any = None

    @property
    def label(self) -> str:
        """The model's name, with the stage it was trained in where it has one."""
        stored = self.checkpoint_config
        stage = stored.get("train_stage")
        return f"{stored.get('model')} ({stage})" if stage else str(stored.get("model"))


def rebuilt_config_dict(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a checkpoint's plain config that a new :class:`~recbole_unisrec.config.Config` takes back."""
    from recbole_unisrec.config import known_settings

    known = known_settings()
    return {key: value for key, value in stored.items() if key in known and key not in DERIVED_SETTINGS}


def pretraining_settings() -> set[str]:
    """The settings ``props/pretrain.yaml`` gives pre-training runs (the corpus's training split only,
    its batch size, ...): a pre-training checkpoint is evaluated with the data set's defaults instead."""
    import yaml

    from recbole_unisrec.config import PROPS

    with open(PROPS / "pretrain.yaml", encoding="utf-8") as handle:
        return set(yaml.safe_load(handle) or {})


def load_for_evaluation(path: str | os.PathLike, dataset: str | None = None, data_root: str | os.PathLike | None = None,
                        overrides: list[str] | None = None) -> Evaluation:
    """Rebuild a checkpoint's config, data set, test loader and model (weights loaded, eval mode).

    ``dataset`` (default: the checkpoint's own) must be the checkpoint's for a model with learned
    item IDs; a text-only UniSRec (``inductive_ft``, or ``pretrain`` evaluated as
    ``inductive_ft``: the same network, without the settings of :func:`pretraining_settings`) is
    evaluated on any data set. ``data_root``: the folder
    holding the data sets (default: the checkpoint's, else the shipped ``dataset/``).
    ``overrides``: ``--key=value`` settings (e.g. ``--eval_batch_size=1024``).
    """
    from recbole.utils import init_seed

    from recbole_unisrec.config import Config
    from recbole_unisrec.data.preparation import data_preparation
    from recbole_unisrec.registry import create_dataset, get_model

    path = str(path)
    checkpoint = load_checkpoint(path)
    stored = checkpoint_config(checkpoint)
    model_name, own_dataset = stored.get("model"), stored.get("dataset")
    if not model_name:
        raise CheckpointError(f"{path}: checkpoint config names no model")
    dataset = dataset or own_dataset
    if not dataset:
        raise CheckpointError(f"{path}: checkpoint config names no data set; give one")
    state = checkpoint["state_dict"]
    if dataset != own_dataset and any(name.startswith("item_embedding.") for name in state):
        raise CheckpointError(
            f"{path}: {model_name} learned item IDs of {own_dataset}; it can only be evaluated on {own_dataset}, not {dataset}"
        )
    config_dict = rebuilt_config_dict(stored)
    if model_name == "UniSRec" and config_dict.get("train_stage") == "pretrain":
        config_dict = {key: value for key, value in config_dict.items() if key not in pretraining_settings()}
        config_dict["train_stage"] = "inductive_ft"  # the same text-only network, evaluated zero-shot
    if data_root is None and stored.get("data_path"):
        stored_root = Path(str(stored["data_path"])).parent
        if (stored_root / dataset).is_dir():
            data_root = stored_root
    if data_root is not None:
        config_dict["data_path"] = str(data_root)
    config = Config(model=model_name, dataset=dataset, config_dict=config_dict, overrides=overrides)
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, data)
    model = get_model(config["model"])(config, train_data._dataset)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the rebuilt {model_name}: {str(error).splitlines()[0]}") from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model = model.to(config["device"]).eval()
    return Evaluation(path, config, train_data._dataset, test_data, model, dict(stored), valid_data)


@dataclass
class TargetRanks:
    """One row per test user: internal user id, target item id and the target's 1-based rank."""

    users: np.ndarray
    targets: np.ndarray
    ranks: np.ndarray


@torch.no_grad()
def rank_targets(model: torch.nn.Module, eval_data, top: int) -> TargetRanks:
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
    users, targets, ranks = [], [], []
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
    return TargetRanks(torch.cat(users).numpy(), torch.cat(targets).numpy(), torch.cat(ranks).numpy().astype(np.int64))


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


@dataclass
class CheckpointMetrics:
    """:func:`evaluate_checkpoint`'s answer: one checkpoint's metrics on one split of one data set."""

    path: str
    label: str
    dataset: str
    split: str
    users: int
    zero_shot: bool
    metrics: dict[str, float]

    def table(self) -> str:
        """A plain-text table, one row per metric and one column per cut-off."""
        ks = sorted({int(key.split("@")[1]) for key in self.metrics})
        how = ", zero-shot (no training on it)" if self.zero_shot else ""
        lines = [f"{self.label} {self.path}", f"on {self.dataset}, {self.split} split ({self.users:,} users){how}",
                 f"{'metric':<8}" + "".join(f"{'@' + str(k):>9}" for k in ks)]
        for name in ("recall", "ndcg"):
            lines.append(f"{name.capitalize() if name == 'recall' else 'NDCG':<8}"
                         + "".join(f"{self.metrics[f'{name}@{k}']:>9.4f}" for k in ks))
        return "\n".join(lines)


def evaluate_checkpoint(path: str | os.PathLike, dataset: str | None = None, data_root: str | os.PathLike | None = None,
                        split: str = "test", ks: Sequence[int] = (10, 50)) -> CheckpointMetrics:
    """Full-ranking Recall and NDCG of any saved checkpoint; a pre-trained UniSRec, or a text-only
    one on a data set it was not trained on, is evaluated zero-shot."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    evaluation = load_for_evaluation(path, dataset, data_root)
    loader = evaluation.valid_data if split == "valid" else evaluation.test_data
    ranks = rank_targets(evaluation.model, loader, max(ks)).ranks
    stored = evaluation.checkpoint_config
    name = evaluation.config["dataset"]
    zero_shot = stored.get("train_stage") == "pretrain" or name != stored.get("dataset")
    return CheckpointMetrics(str(path), evaluation.label, name, split, len(ranks), zero_shot, metrics_from_ranks(ranks, ks))


# --------------------------------------------------------------------------------------------
# Zero-shot evaluation of a UniSRec on another data set
# --------------------------------------------------------------------------------------------

ZERO_SHOT_SETTINGS = ("text_encoder", "text_pooling", "text_max_length", "text_batch_size", "MAX_ITEM_LIST_LENGTH",
                      "eval_batch_size", "seed", "use_gpu", "gpu_id")
"""The settings a zero-shot target takes from the run that evaluates on it (the same text vectors)."""


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


def zero_shot_target(name: str, split: str, run_config: Mapping[str, Any], data_root: str | os.PathLike) -> ZeroShotTarget:
    """Build ``name``'s ``split`` under ``data_root`` with the text settings of ``run_config``."""
    from recbole_unisrec.config import Config
    from recbole_unisrec.data.preparation import data_preparation
    from recbole_unisrec.registry import create_dataset

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    settings = {key: run_config[key] for key in ZERO_SHOT_SETTINGS if run_config[key] is not None}
    config = Config(model="UniSRec", dataset=name,
                    config_dict={**settings, "data_path": str(data_root), "train_stage": "inductive_ft"})
    with torch.random.fork_rng(devices=[]):
        data = create_dataset(config)
        _, valid_data, test_data = data_preparation(config, data)
    loader = valid_data if split == "valid" else test_data
    return ZeroShotTarget(name, split, loader, data.plm_embedding.weight.detach())


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
