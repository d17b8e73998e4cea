"""RecBole's ``data_preparation``, with the packed train loader where the model supports it."""
from __future__ import annotations

from recbole.data import data_preparation as recbole_data_preparation

from recbole_unisrec.data.dataloader import PackedTrainDataLoader


def data_preparation(config, dataset):
    """Train/valid/test loaders; ``packed_training: True`` swaps in :class:`PackedTrainDataLoader`."""
    train_data, valid_data, test_data = recbole_data_preparation(config, dataset)
    if config["packed_training"]:
        train_data = PackedTrainDataLoader(config, train_data._dataset, shuffle=config["shuffle"])
    return train_data, valid_data, test_data
