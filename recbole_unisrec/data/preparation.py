"""RecBole's ``data_preparation``, with the packed train loader where the model supports it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from recbole.data import data_preparation as recbole_data_preparation
from recbole.data.dataloader import FullSortEvalDataLoader

from recbole_unisrec.data.dataloader import LengthBucketEvalDataLoader, LengthBucketTrainDataLoader, PackedTrainDataLoader

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.data.dataset import SequentialDataset


def data_preparation(config: Config, dataset: SequentialDataset) -> tuple[AbstractDataLoader, AbstractDataLoader, AbstractDataLoader]:
    """Train/valid/test loaders; ``packed_training: True`` swaps in :class:`PackedTrainDataLoader`,
    else ``length_bucketing: True`` swaps in :class:`LengthBucketTrainDataLoader` (stock models);
    ``length_bucketing: True`` also evaluates (full ranking) in length-sorted, trimmed batches."""
    train_data, valid_data, test_data = recbole_data_preparation(config, dataset)
    if config["packed_training"]:
        train_data = PackedTrainDataLoader(config, train_data._dataset, shuffle=config["shuffle"])
    elif config["length_bucketing"]:
        train_data = LengthBucketTrainDataLoader(config, train_data._dataset, train_data._sampler, shuffle=config["shuffle"])
    if config["length_bucketing"] and isinstance(valid_data, FullSortEvalDataLoader):
        valid_data, test_data = (LengthBucketEvalDataLoader(config, data._dataset, data._sampler) for data in (valid_data, test_data))
    return train_data, valid_data, test_data
