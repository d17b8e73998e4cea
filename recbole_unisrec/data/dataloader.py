"""The packed training loader: one row per user history instead of one row per prefix.

RecBole's sequential training file holds every prefix of a user's history as its own row,
padded to ``MAX_ITEM_LIST_LENGTH``. Sequences are left-aligned and the encoder is causal, so
position ``t`` of the longest prefix row sees exactly the prefix of length ``t + 1``: one row
with a target at every position gives the same per-target losses as all the prefix rows.
:func:`pack_prefix_rows` finds those rows exactly (a prefix row is merged only when it is
literally a prefix of a longer row plus its target); anything else, such as the sliding
windows of histories longer than the maximum length, stays a row of its own with one target.

Rows are then batched by length (short rows together), so a batch is padded only to its own
longest row, and a batch holds about ``train_batch_size`` targets, the same number of training
examples as a stock batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.data.interaction import Interaction

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.data.dataset import SequentialDataset
    from recbole.sampler.sampler import AbstractSampler

TARGETS_FIELD = "target_item_list"
"""``[B, L]`` next item of every position, 0 where the position is not trained on."""


@dataclass
class PackedRows:
    items: np.ndarray     # [R, L] input items, left-aligned, 0-padded
    targets: np.ndarray   # [R, L] next item per position, 0 = no target
    lengths: np.ndarray   # [R] items per row
    users: np.ndarray | None = None  # [R] internal user id of each row

    @property
    def target_counts(self) -> np.ndarray:
        return (self.targets != 0).sum(axis=1)


def pack_prefix_rows(users: np.ndarray, histories: np.ndarray, lengths: np.ndarray, targets: np.ndarray) -> PackedRows:
    """Merge prefix rows (``history``, ``target``) of each user into rows with a target per position."""
    width = histories.shape[1]
    order = np.lexsort((-lengths, users))  # per user, longest history first
    packed_items, packed_targets, packed_lengths, packed_users = [], [], [], []
    open_rows: list[tuple[np.ndarray, int]] = []  # (history + target, packed row index) of the current user
    current_user = None
    for row in order:
        user, length, target = users[row], int(lengths[row]), int(targets[row])
        history = histories[row, :length]
        if user != current_user:
            current_user, open_rows = user, []
        for full, packed in open_rows:
            if length < len(full) and full[length] == target and np.array_equal(full[:length], history) \
                    and packed_targets[packed][length - 1] == 0:
                packed_targets[packed][length - 1] = target
                break
        else:
            items = np.zeros(width, dtype=np.int64)
            items[:length] = history
            row_targets = np.zeros(width, dtype=np.int64)
            row_targets[length - 1] = target
            packed_items.append(items)
            packed_targets.append(row_targets)
            packed_lengths.append(length)
            packed_users.append(user)
            open_rows.append((np.append(history, target), len(packed_items) - 1))
    return PackedRows(np.stack(packed_items), np.stack(packed_targets), np.asarray(packed_lengths, dtype=np.int64),
                      np.asarray(packed_users, dtype=np.int64))


class LengthBucketedBatches:
    """Batches of rows of similar length, planned anew each epoch from ``seed`` and the epoch.

    Rows are sorted by ``lengths`` (random order among equal lengths), cut by :meth:`_cut`,
    visited in random order; each rank of a distributed run takes every ``world_size``-th
    batch. :meth:`set_epoch` makes a resumed run see the same batches as an uninterrupted one.
    Subclasses set ``lengths`` (and ``rank``/``world_size`` when distributed) and implement
    :meth:`_cut` and ``collate_fn``.
    """

    epoch = 0
    rank, world_size = 0, 1

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def _cut_every_step(self, order: np.ndarray) -> list[np.ndarray]:
        return [order[start:start + self.step] for start in range(0, len(order), self.step)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self) -> np.ndarray | None:
        """A group per row that no batch may mix (sorted on before the length), or None."""
        return None

    def _plan_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([int(self.config["seed"]), epoch])
        lengths = self.lengths
        groups = self._groups()
        keys = (rng.random(len(lengths)) if self.shuffle else np.arange(len(lengths)), lengths)
        order = np.lexsort(keys if groups is None else (*keys, groups))
        batches = self._cut(order)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self):
        self._batches = self._plan_batches(self.epoch)
        self.epoch += 1
        for batch in self._batches:
            yield self.collate_fn(batch)


PACKED_TRAINING_MODELS = frozenset({"UniSRec", "SASRec", "FDSAText"})
"""Models with a causal encoder that read a ``target_item_list`` batch (a loss at every position)."""


def check_packed_training(config: Config) -> None:
    """Raise a one-line error where ``config`` cannot train on packed rows (another model, or a
    loss that needs sampled negatives, which packed rows do not carry)."""
    if config["model"] not in PACKED_TRAINING_MODELS:
        raise ValueError(
            f"packed_training: {config['model']} cannot train on packed rows "
            f"(supported: {', '.join(sorted(PACKED_TRAINING_MODELS))}); drop --packed_training for it"
        )
    if config["loss_type"] != "CE":
        raise ValueError(f"packed_training needs loss_type CE (got {config['loss_type']!r}): "
                         "packed rows have no sampled negatives")


class PackedTrainDataLoader(LengthBucketedBatches, AbstractDataLoader):
    """RecBole train loader over packed rows, batched by length; see the module docstring."""

    def __init__(self, config: Config, dataset: SequentialDataset, sampler: AbstractSampler | None = None,
                 shuffle: bool = True) -> None:
        check_packed_training(config)
        uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        self.item_seq_field = iid + config["LIST_SUFFIX"]
        self.item_len_field = config["ITEM_LIST_LENGTH_FIELD"]
        feat = dataset.inter_feat
        self.rows = pack_prefix_rows(
            feat[uid].numpy(), feat[self.item_seq_field].numpy(), feat[self.item_len_field].numpy(), feat[iid].numpy()
        )
        self.sample_size = len(self.rows.lengths)
        self.rank, self.world_size = (0, 1) if config["single_spec"] else (config["local_rank"], config["world_size"])
        self.epoch = 0
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self._batches = self._plan_batches(0)

    def _init_batch_size_and_step(self):
        self.step = self.config["train_batch_size"]
        self.set_batch_size(self.step)

    @property
    def lengths(self) -> np.ndarray:
        return self.rows.lengths

    def _target_counts(self) -> np.ndarray:
        """Targets of every unit that ``_plan_batches`` orders (here: every packed row)."""
        return self.rows.target_counts

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        """Batches of about ``train_batch_size`` targets (a row never straddles two)."""
        counts = self._target_counts()[order]
        batch_of = (np.cumsum(counts) - counts) // self.step
        return np.split(order, np.flatnonzero(np.diff(batch_of)) + 1)

    def collate_fn(self, index: np.ndarray) -> Interaction:
        longest = int(self.rows.lengths[index].max())
        return Interaction({
            self.item_seq_field: torch.from_numpy(self.rows.items[index, :longest]),
            self.item_len_field: torch.from_numpy(self.rows.lengths[index]),
            TARGETS_FIELD: torch.from_numpy(self.rows.targets[index, :longest]),
        })


# --------------------------------------------------------------------------------------------
# Length bucketing for stock RecBole sequential models
# --------------------------------------------------------------------------------------------

from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader, TrainDataLoader  # noqa: E402

LENGTH_BUCKETING_MODELS = frozenset({
    "SASRec", "SASRecF", "GRU4Rec", "GRU4RecF", "NARM", "FDSA", "FDSAText", "S3RecText", "UniSRec",
})
"""Models whose sequence output, for a left-aligned history, depends only on the history's own
positions (a causal encoder with a padding mask, an RNN, or padding masked out of every sum), so
a row trimmed to the longest history of its batch scores exactly as the row padded to
``MAX_ITEM_LIST_LENGTH``. Models that read fixed-length rows (Caser's convolution windows,
BERT4Rec's appended mask token, ...) are not in it."""


def check_length_bucketing(config: Config) -> None:
    """Raise a one-line error where ``length_bucketing`` cannot be exact for ``config['model']``."""
    model = config["model"]
    if model not in LENGTH_BUCKETING_MODELS:
        raise ValueError(
            f"length_bucketing: {model} is not known to score a trimmed row exactly as a padded one "
            f"(supported: {', '.join(sorted(LENGTH_BUCKETING_MODELS))}); drop --length_bucketing for it"
        )
    if model == "S3RecText" and config["train_stage"] != "finetune":
        raise ValueError("length_bucketing: S3RecText supports it in train_stage finetune only")
    if config["transform"] is not None:
        raise ValueError(f"length_bucketing: the transform {config['transform']!r} needs fixed-length rows")


class LengthBucketTrainDataLoader(LengthBucketedBatches, TrainDataLoader):
    """RecBole's training loader (one row per prefix, as stock), batched by history length.

    Rows are sorted by length (random order among equal lengths), cut into batches of
    ``train_batch_size`` rows and visited in random order, seeded by ``seed`` and the epoch; each
    rank of a distributed run takes every ``world_size``-th batch. Every list field of a batch
    (``item_id_list`` and any other ``*_list`` field as wide as it) is cut to the batch's longest
    history. Rows and per-row losses are RecBole's own; only the batching
    (which rows share a batch) and the padding differ. See :data:`LENGTH_BUCKETING_MODELS`.
    (RecBole pads every row to the longest history of the data set, capped at
    ``MAX_ITEM_LIST_LENGTH``: 50 on the shipped data sets.)
    """

    def __init__(self, config: Config, dataset: SequentialDataset, sampler: AbstractSampler | None = None,
                 shuffle: bool = True) -> None:
        check_length_bucketing(config)
        self.lengths = dataset.inter_feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy().astype(np.int64)
        self.rank, self.world_size = (0, 1) if config["single_spec"] else (config["local_rank"], config["world_size"])
        self.epoch = 0
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self._batches = self._plan_batches(0)

    _cut = LengthBucketedBatches._cut_every_step

    def collate_fn(self, index: np.ndarray) -> Interaction:
        index = np.asarray(index)
        interaction = super().collate_fn(index)
        return trim_list_fields(self.config, interaction, int(self.lengths[index].max()))


def trim_list_fields(config: Config, interaction: Interaction, longest: int) -> Interaction:
    """Cut ``item_id_list`` and every other ``*_list`` field as wide as it to ``longest`` columns."""
    list_suffix = config["LIST_SUFFIX"]
    width = interaction[config["ITEM_ID_FIELD"] + list_suffix].size(1)
    for field in list(interaction.columns):
        value = interaction[field]
        if field.endswith(list_suffix) and value.dim() >= 2 and value.size(1) == width:
            interaction.interaction[field] = value[:, :max(longest, 1)]
    return interaction


class LengthBucketEvalDataLoader(FullSortEvalDataLoader):
    """RecBole's full-ranking evaluation loader for sequential models, visiting the rows sorted by
    history length and cutting each batch to its longest history (``length_bucketing: True``).
    Every row is scored once, as stock; metrics are averages over rows, so the order does not
    change them."""

    def __init__(self, config: Config, dataset: SequentialDataset, sampler: AbstractSampler | None = None,
                 shuffle: bool = False) -> None:
        check_length_bucketing(config)
        lengths = dataset.inter_feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy()
        self.lengths = lengths.astype(np.int64)
        self.order = np.argsort(self.lengths, kind="stable")
        super().__init__(config, dataset, sampler, shuffle=False)

    def collate_fn(self, index: np.ndarray) -> Interaction:
        rows = self.order[np.asarray(index)]
        interaction, history, positive_u, positive_i = super().collate_fn(rows)
        return trim_list_fields(self.config, interaction, int(self.lengths[rows].max())), history, positive_u, positive_i
