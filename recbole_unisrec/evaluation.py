"""Evaluation outside a training run: a checkpoint rebuilt, or a model ranked zero-shot.

* :func:`load_for_evaluation` rebuilds any saved checkpoint's config, data set, loaders and model
  (``python -m recbole_unisrec evaluate``, ``run_cold_start.py``);
* :func:`rank_targets` ranks every row's target over all items exactly as RecBole's full-sort
  evaluation ranks it, and :func:`metrics_from_ranks` gives RecBole's Recall@K and NDCG@K
  (both from :mod:`recbole_unisrec.ranking`, offered here too);
* :func:`zero_shot_target` builds a :class:`ZeroShotTarget` on which :func:`evaluate_zero_shot`
  scores a UniSRec (any stage, text only) on a data set it never trained on, by swapping that data
  set's text vectors in. Pre-training uses it to watch transfer while it trains (``transfer_eval``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from recbole_unisrec.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
from recbole_unisrec.ranking import (  # noqa: F401  (re-exported: this module's API too)
    TargetRanks,
    ZeroShotTarget,
    evaluate_zero_shot,
    metrics_from_ranks,
    ndcg_at,
    rank_targets,
    recall_at,
    require_cutoffs_within_catalog,
)

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
                        split: str = "test", ks: Sequence[int] | None = None) -> CheckpointMetrics:
    """Full-ranking Recall and NDCG of any saved checkpoint at the cut-offs ``ks`` (default: the
    checkpoint's own ``topk``); a pre-trained UniSRec, or a text-only one on a data set it was not
    trained on, is evaluated zero-shot."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if ks is not None and (not ks or min(ks) < 1):
        raise ValueError(f"topk: cut-offs must be positive, got {', '.join(map(str, ks)) or 'none'}")
    evaluation = load_for_evaluation(path, dataset, data_root)
    ks = sorted(set(evaluation.config["topk"] if ks is None else ks))
    require_cutoffs_within_catalog(ks, evaluation.train_dataset.item_num, evaluation.config["dataset"])
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
