"""Name lookups that try this plugin first and fall back to RecBole (as RecBole-GNN does).

Imports run one way: this module looks into :mod:`recbole_unisrec.model` and
:mod:`recbole_unisrec.trainer`, which never import it.
"""
from __future__ import annotations

from logging import getLogger
from typing import TYPE_CHECKING

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_unisrec import model as models
from recbole_unisrec.data import dataset as datasets
from recbole_unisrec.model import TEXT_MODELS

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.utils import ModelType

__all__ = ["TEXT_MODELS", "create_dataset", "get_model", "get_trainer"]


def get_model(name: str) -> type:
    if hasattr(models, name):
        return getattr(models, name)
    return recbole_get_model(name)


def get_trainer(model_type: ModelType, model_name: str) -> type:
    from recbole_unisrec import trainer as module

    if hasattr(module, f"{model_name}Trainer"):
        return getattr(module, f"{model_name}Trainer")
    return recbole_get_trainer(model_type, model_name)


def create_dataset(config: Config) -> datasets.AtomicSequentialDataset:
    """The dataset class for ``config['model']``; never unpickles a saved dataset."""
    if config["model"] in TEXT_MODELS:
        pretraining = config["model"] == "UniSRec" and config["train_stage"] == "pretrain"
        dataset_class = datasets.MultiDomainDataset if pretraining else datasets.UniSRecDataset
    else:
        dataset_class = datasets.AtomicSequentialDataset
    dataset = dataset_class(config)
    getLogger().info(dataset)
    return dataset
