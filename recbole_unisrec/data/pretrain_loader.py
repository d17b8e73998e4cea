"""The pre-training loader: packed multi-domain rows, their text vectors and the augmented view.

:class:`PretrainDataLoader` extends :class:`~recbole_unisrec.data.dataloader.PackedTrainDataLoader`
(one row per user history, a target at every position, batches of about ``train_batch_size``
targets bucketed by length, shuffled by ``(seed, epoch)``). Every position ``t`` of a packed row is
one training sequence, the prefix ``items[:t + 1]``, whose positive is the next item
``targets[t]``. A batch mixes the domains; its in-batch negatives are all of its targets.

Each batch carries the text vectors it needs rather than item ids alone: the rows of the
batch's distinct items in the plain text-vector table, followed by the rows of the
word-dropped table for the items that the augmentation word-drops (``PRETRAIN_VECTORS``), and
for every item slot its row in that matrix (``SEQ_ROWS``, ``TARGET_ROWS``, ``AUG_ROWS``). The
model runs the MoE adaptor once per distinct row, not once per occurrence.

The augmented view (the seq-seq task)
-------------------------------------
Per packed row, one draw decides: with probability ``item_drop_coefficient`` **item drop** (one
keep-mask: the first item always kept, every other kept with probability
``1 - item_drop_ratio``), else **word drop** (each position takes the word-dropped text vector
with probability ``item_drop_ratio``). For item drop the kept items are moved left (order kept)
into the augmented row ``AUG_ROWS`` of length ``AUG_LENGTH`` (the lengths recomputed), which is
encoded causally; the augmented view of prefix ``t`` is the output at the last kept index
``<= t`` of the original row, i.e. at position ``AUG_POSITIONS[t] = keep[:t + 1].sum() - 1`` of the
augmented row. That output sees exactly the kept items of ``items[:t + 1]``, in order: item drop
applied to the prefix. Restricted to one prefix, the mask is an independent draw per item with
the first item kept, so every prefix's view has exactly the per-sequence distribution of the
paper's augmentation; only the views of prefixes of the same user are correlated (they share
draws), as their inputs already are. Word drop keeps every position (``AUG_POSITIONS[t] = t``).

The draws of every row are made once per epoch from a generator seeded by ``(seed, epoch)``,
before batching: a row's view depends on the seed, the epoch and the row only, not on batch
composition, rank or world size. So a resumed epoch, a different batch order, or one process over
the union of several ranks' batches sees the same views.
"""
from __future__ import annotations

from dataclasses import dataclass
from logging import getLogger
from typing import TYPE_CHECKING

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_unisrec import distributed
from recbole_unisrec.data.dataloader import TARGETS_FIELD, PackedTrainDataLoader

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.sampler.sampler import AbstractSampler

    from recbole_unisrec.data.dataset import UniSRecDataset

PRETRAIN_VECTORS = "pretrain_text_vectors"
"""``[V, d]`` text vectors of the batch: distinct items (plain text), then word-dropped texts."""
SEQ_ROWS = "pretrain_seq_rows"
"""``[B, L]`` row of ``PRETRAIN_VECTORS`` for each input item."""
TARGET_ROWS = "pretrain_target_rows"
"""``[B, L]`` row of ``PRETRAIN_VECTORS`` for each position's next item."""
AUG_ROWS = "pretrain_aug_rows"
"""``[B, L']`` rows of the augmented sequences, left-aligned."""
AUG_LENGTH = "pretrain_aug_length"
"""``[B]`` items per augmented row."""
AUG_POSITIONS = "pretrain_aug_positions"
"""``[B, L]`` position in the augmented row whose output is the view of prefix ``t``."""
ROW_USERS = "pretrain_row_users"
"""``[B]`` internal user id of each row: a sequence's own user's candidates are no negatives."""
TARGET_LOG_FREQ = "pretrain_target_log_freq"
"""``[T]`` log of each target's share of all training targets (``pretrain_logq_correction``)."""

_AUG_STREAM = 0xA06  # keeps the augmentation's generator apart from the batch plan's
_PIECE_STREAM = 0xB17  # and the split of rows into pieces (``pretrain_targets_per_row``)


@dataclass
class Pieces:
    """An epoch's training pieces: each is one packed row with a subset of its targets.

    With ``pretrain_targets_per_row`` k > 0 the targets of a row are dealt at random into
    ``ceil(targets / k)`` pieces of at most k; a piece is the row cut after its last target, so a
    batch of N targets holds about N / k users instead of N / (targets per row). Every target is
    still trained on once an epoch. k = 0: one piece per row with all its targets.
    """

    rows: np.ndarray       # [P] packed row of each piece
    chunks: np.ndarray     # [P] which of its row's pieces it is
    lengths: np.ndarray    # [P] items up to and including the piece's last target position
    counts: np.ndarray     # [P] targets of the piece
    chunk_of: np.ndarray | None  # [R, L] piece number of every target position (None for k = 0)


def split_rows(targets: np.ndarray, lengths: np.ndarray, per_piece: int, rng: np.random.Generator | None) -> Pieces:
    """Deal each row's target positions at random into pieces of at most ``per_piece`` (see :class:`Pieces`)."""
    has_target = targets != 0
    counts = has_target.sum(axis=1)
    if per_piece <= 0:
        rows = np.arange(len(lengths))
        return Pieces(rows, np.zeros_like(rows), lengths.copy(), counts, None)
    priority = np.where(has_target, rng.random(targets.shape), np.inf)
    rank_in_row = np.argsort(np.argsort(priority, axis=1, kind="stable"), axis=1, kind="stable")
    chunk_of = np.where(has_target, rank_in_row // per_piece, -1).astype(np.int64)
    n_pieces = -(-counts // per_piece)
    first_piece = np.cumsum(n_pieces) - n_pieces
    rows = np.repeat(np.arange(len(lengths)), n_pieces)
    chunks = np.arange(len(rows)) - first_piece[rows]
    row_idx, position = np.nonzero(has_target)
    piece = first_piece[row_idx] + chunk_of[row_idx, position]
    piece_lengths = np.zeros(len(rows), dtype=np.int64)
    np.maximum.at(piece_lengths, piece, position + 1)
    piece_counts = np.bincount(piece, minlength=len(rows))
    return Pieces(rows, chunks, piece_lengths, piece_counts, chunk_of)


@dataclass
class Augmentation:
    """The augmented view of a batch of left-aligned rows (see the module docstring)."""

    items: np.ndarray      # [B, L'] kept items, left-aligned, 0-padded
    word_drop: np.ndarray  # [B, L'] True where the position uses the word-dropped vector
    lengths: np.ndarray    # [B] kept items per row
    positions: np.ndarray  # [B, L] augmented position that is the view of prefix t (valid for t < length)


def augment(items: np.ndarray, lengths: np.ndarray, keep: np.ndarray, item_drop: np.ndarray,
            word_drop: np.ndarray) -> Augmentation:
    """Apply per-row draws to a batch: ``keep`` [B, L] (item drop), ``item_drop`` [B] (which
    rows use item drop) and ``word_drop`` [B, L] (which positions of word-drop rows take the
    word-dropped vector). ``keep[:, 0]`` is forced True."""
    batch, width = items.shape
    valid = np.arange(width)[None, :] < lengths[:, None]
    kept = np.where(item_drop[:, None], keep, True) & valid
    kept[:, 0] = valid[:, 0]
    dropped_words = word_drop & valid & ~item_drop[:, None]
    new_lengths = kept.sum(axis=1)
    cumulative = np.cumsum(kept, axis=1)
    positions = np.maximum(cumulative - 1, 0)
    aug_width = max(int(new_lengths.max()), 1) if batch else 1
    aug_items = np.zeros((batch, aug_width), dtype=items.dtype)
    aug_words = np.zeros((batch, aug_width), dtype=bool)
    rows, columns = np.nonzero(kept)
    targets = positions[rows, columns]
    aug_items[rows, targets] = items[rows, columns]
    aug_words[rows, targets] = dropped_words[rows, columns]
    return Augmentation(aug_items, aug_words, new_lengths.astype(np.int64), positions.astype(np.int64))


class PretrainDataLoader(PackedTrainDataLoader):
    """Packed rows of a multi-domain corpus with text vectors and augmented views attached.

    Under ``torchrun`` every rank plans the same global batches and takes every
    ``world_size``-th (the last ``len % world_size`` batches of an epoch are left out, so that
    all ranks take the same number of steps); ``train_batch_size`` is the batch of one rank.
    """

    def __init__(self, config: Config, dataset: UniSRecDataset, sampler: AbstractSampler | None = None,
                 shuffle: bool = True) -> None:
        self.targets_per_row = int(config["pretrain_targets_per_row"] or 0)
        self.batch_slots = int(config["pretrain_batch_slots"] or 0)
        self.domain_batches = bool(config["pretrain_domain_batches"])
        self.item_domain = getattr(dataset, "item_domain", None)
        if self.domain_batches and self.item_domain is None:
            raise ValueError("pretrain_domain_batches needs a multi-domain corpus (its items' domains)")
        self._pieces_epoch, self._pieces, self._piece_domains = None, None, None
        # The base class shards by ``local_rank``; pre-training shards by global rank (multi-node),
        # so the base plans the global batches (as rank 0 of 1) and this class takes its share.
        self.shard_rank, self.shard_world = distributed.rank(), distributed.world_size()
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self._init_batch_size_and_step()  # RecBole divides the step by world_size under DDP
        self.item_drop_ratio = float(config["item_drop_ratio"])
        self.item_drop_coefficient = float(config["item_drop_coefficient"])
        if not 0.0 <= self.item_drop_ratio < 1.0 or not 0.0 <= self.item_drop_coefficient <= 1.0:
            raise ValueError(
                f"item_drop_ratio must be in [0, 1) and item_drop_coefficient in [0, 1]; got "
                f"{self.item_drop_ratio} and {self.item_drop_coefficient}"
            )
        self.target_log_freq = None
        if config["pretrain_logq_correction"]:
            counts = np.bincount(self.rows.targets.ravel(), minlength=int(dataset.item_num)).astype(np.float64)
            counts[0] = 0.0
            self.target_log_freq = np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)
        self.plm_vectors = dataset.plm_embedding.weight.detach()
        self.word_drop_vectors = dataset.word_drop_embedding.weight.detach()
        if self.word_drop_vectors.shape != self.plm_vectors.shape:
            raise ValueError(
                f"the word-dropped text vectors have shape {tuple(self.word_drop_vectors.shape)}, "
                f"the text vectors {tuple(self.plm_vectors.shape)}"
            )
        self.start_batch = 0
        self._draws_epoch = None
        self._draws = None
        self._batches = self._plan_batches(0)
        if self.shard_world > 1:
            dropped = self.global_batch_count(0) - len(self._batches) * self.shard_world
            if dropped:
                getLogger().info(f"pre-training on {self.shard_world} processes: {dropped} of "
                                 f"{self.global_batch_count(0)} batches per epoch left out (at random)")

    # --- batch plan -------------------------------------------------------------------------

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """Every batch of ``epoch`` (piece indices, see :class:`Pieces`), before sharding over ranks."""
        self.rank, self.world_size = 0, 1  # the base class's sharding is replaced by _plan_batches
        self._prepare_pieces(epoch)
        return super()._plan_batches(epoch)

    def _prepare_pieces(self, epoch: int) -> None:
        """The pieces of ``epoch`` and, with ``pretrain_domain_batches``, each piece's domain (of its
        row's first item); every batch plan and collate of the epoch reads them."""
        if self._pieces_epoch == epoch:
            return
        rng = np.random.default_rng([int(self.config["seed"]), int(epoch), _PIECE_STREAM]) if self.targets_per_row else None
        self._pieces = split_rows(self.rows.targets, self.rows.lengths, self.targets_per_row, rng)
        self._piece_domains = (self.item_domain.numpy()[self.rows.items[self._pieces.rows, 0]]
                               if self.domain_batches else None)
        self._pieces_epoch = epoch

    @property
    def lengths(self) -> np.ndarray:
        """Length of every piece of the planned epoch (batches are bucketed by it)."""
        return self._pieces.lengths

    def _groups(self) -> np.ndarray | None:
        return self._piece_domains

    def _target_counts(self) -> np.ndarray:
        return self._pieces.counts

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        """Batches of about ``train_batch_size`` targets (a piece never straddles two), each split
        further at a change of domain (``pretrain_domain_batches``) and where its padded size
        (pieces x longest piece) exceeds ``pretrain_batch_slots``."""
        batches = super()._cut(order)
        if self._piece_domains is not None:
            batches = [part for batch in batches
                       for part in np.split(batch, np.flatnonzero(np.diff(self._piece_domains[batch])) + 1)]
        if not self.batch_slots:
            return batches
        bounded = []
        for batch in batches:
            rows = max(1, self.batch_slots // int(self._pieces.lengths[batch].max()))
            bounded.extend(batch[start:start + rows] for start in range(0, len(batch), rows))
        return bounded

    def global_batch_count(self, epoch: int) -> int:
        return len(self.global_batches(epoch))

    def _plan_batches(self, epoch: int) -> list[np.ndarray]:
        batches = self.global_batches(epoch)
        usable = len(batches) // self.shard_world * self.shard_world
        return batches[self.shard_rank:usable:self.shard_world]

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """The next iteration yields epoch ``epoch``'s batches from ``start_batch`` on."""
        self.epoch = epoch
        self.start_batch = start_batch
        self._batches = self._plan_batches(epoch)

    def __len__(self) -> int:
        return len(self._batches) - self.start_batch

    def __iter__(self):
        epoch, start = self.epoch, self.start_batch
        self._batches = self._plan_batches(epoch)
        self.epoch, self.start_batch = epoch + 1, 0
        self._prepare_draws(epoch)
        for batch in self._batches[start:]:
            yield self.collate_fn(batch)

    # --- augmentation draws -----------------------------------------------------------------

    def _prepare_draws(self, epoch: int) -> None:
        """Every row's draws for ``epoch``: a keep-mask, the item-drop coin and the word-drop mask."""
        if self._draws_epoch == epoch:
            return
        rng = np.random.default_rng([int(self.config["seed"]), int(epoch), _AUG_STREAM])
        shape = self.rows.items.shape
        keep = rng.random(shape, dtype=np.float32) >= self.item_drop_ratio
        keep[:, 0] = True
        item_drop = rng.random(shape[0]) < self.item_drop_coefficient
        word_drop = rng.random(shape, dtype=np.float32) < self.item_drop_ratio
        self._draws = (keep, item_drop, word_drop)
        self._draws_epoch = epoch

    def collate_fn(self, pieces: np.ndarray) -> Interaction:
        if self._draws is None:
            self._prepare_draws(self.epoch)
        pieces = np.asarray(pieces)
        index = self._pieces.rows[pieces]
        lengths = self._pieces.lengths[pieces]
        longest = int(lengths.max())
        in_piece = np.arange(longest)[None, :] < lengths[:, None]
        items = np.where(in_piece, self.rows.items[index, :longest], 0)
        targets = self.rows.targets[index, :longest]
        if self._pieces.chunk_of is not None:
            targets = np.where(self._pieces.chunk_of[index, :longest] == self._pieces.chunks[pieces][:, None], targets, 0)
        keep, item_drop, word_drop = self._draws
        view = augment(items, lengths, keep[index, :longest], item_drop[index], word_drop[index, :longest])

        # one matrix of the text vectors the batch needs: distinct items, then word-dropped ones
        distinct, inverse = np.unique(np.concatenate([items.ravel(), targets.ravel(), view.items.ravel()]),
                                      return_inverse=True)
        n_seq, n_tgt = items.size, targets.size
        seq_rows = inverse[:n_seq].reshape(items.shape)
        target_rows = inverse[n_seq:n_seq + n_tgt].reshape(targets.shape)
        aug_rows = inverse[n_seq + n_tgt:].reshape(view.items.shape)
        word_items, word_inverse = np.unique(view.items[view.word_drop], return_inverse=True)
        aug_rows[view.word_drop] = len(distinct) + word_inverse
        vectors = torch.cat([self.plm_vectors[torch.from_numpy(distinct)],
                             self.word_drop_vectors[torch.from_numpy(word_items)]])
        return Interaction({
            self.item_seq_field: torch.from_numpy(items),
            self.item_len_field: torch.from_numpy(lengths),
            TARGETS_FIELD: torch.from_numpy(targets),
            PRETRAIN_VECTORS: vectors,
            SEQ_ROWS: torch.from_numpy(seq_rows.astype(np.int64)),
            TARGET_ROWS: torch.from_numpy(target_rows.astype(np.int64)),
            AUG_ROWS: torch.from_numpy(aug_rows.astype(np.int64)),
            AUG_LENGTH: torch.from_numpy(view.lengths),
            AUG_POSITIONS: torch.from_numpy(view.positions[:, :longest]),
            ROW_USERS: torch.from_numpy(self.rows.users[index]),
            **({} if self.target_log_freq is None else {TARGET_LOG_FREQ: torch.from_numpy(self.target_log_freq[targets[targets > 0]])}),
        })
