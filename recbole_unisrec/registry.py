"""Name lookups that try this plugin first and fall back to RecBole (as RecBole-GNN does)."""
from __future__ import annotations

import importlib
from logging import getLogger

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_unisrec.data import dataset as datasets

TEXT_MODELS: set[str] = set()
"""Models that read item text vectors; filled by ``recbole_unisrec.model`` as it registers them."""


def get_model(name: str) -> type:
    module = importlib.import_module("recbole_unisrec.model")
    if hasattr(module, name):
        return getattr(module, name)
    return recbole_get_model(name)


def get_trainer(model_type, model_name: str) -> type:
    module = importlib.import_module("recbole_unisrec.trainer")
    if hasattr(module, f"{model_name}Trainer"):
        return getattr(module, f"{model_name}Trainer")
    return recbole_get_trainer(model_type, model_name)


def create_dataset(config) -> datasets.AtomicSequentialDataset:
    """The dataset class for ``config['model']``; never unpickles a saved dataset."""
    if config["model"] in TEXT_MODELS:
        pretraining = config["model"] == "UniSRec" and config["train_stage"] == "pretrain"
        dataset_class = datasets.MultiDomainDataset if pretraining else datasets.UniSRecDataset
    else:
        dataset_class = datasets.AtomicSequentialDataset
    dataset = dataset_class(config)
    getLogger().info(dataset)
    return dataset
