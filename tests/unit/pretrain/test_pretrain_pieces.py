"""``pretrain_targets_per_row``: a packed row's targets dealt into pieces so that a step sees more users."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pretrain_fixtures import build

from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.data.pretrain_loader import ROW_USERS, split_rows


def _targets() -> tuple[np.ndarray, np.ndarray]:
    targets = np.array([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0], [0, 0, 0, 2, 0]])
    return targets, np.array([5, 2, 4])


@pytest.mark.parametrize("per_piece", [1, 2, 3])
def test_every_target_lands_in_exactly_one_piece(per_piece: int) -> None:
    targets, lengths = _targets()
    pieces = split_rows(targets, lengths, per_piece, np.random.default_rng(0))
    assert pieces.counts.max() <= per_piece
    assert list(np.bincount(pieces.rows)) == [-(-5 // per_piece), -(-2 // per_piece), 1]
    seen = []
    for piece in range(len(pieces.rows)):
        row, chunk = pieces.rows[piece], pieces.chunks[piece]
        positions = np.flatnonzero(pieces.chunk_of[row] == chunk)
        assert len(positions) == pieces.counts[piece]
        assert pieces.lengths[piece] == positions.max() + 1  # cut after its last target
        seen.extend((int(row), int(position)) for position in positions)
    assert sorted(seen) == sorted(zip(*map(list, np.nonzero(targets))))


def test_zero_keeps_whole_rows() -> None:
    targets, lengths = _targets()
    pieces = split_rows(targets, lengths, 0, None)
    assert pieces.rows.tolist() == [0, 1, 2] and pieces.lengths.tolist() == [5, 2, 4]
    assert pieces.counts.tolist() == [5, 2, 1] and pieces.chunk_of is None


def test_pieces_train_every_target_once_an_epoch_with_more_users_per_batch(corpus_root) -> None:
    _, _, whole, _ = build(corpus_root)
    _, _, split, _ = build(corpus_root, pretrain_targets_per_row=1)
    whole.set_epoch(0)
    split.set_epoch(0)

    def epoch_targets(loader) -> tuple[list[tuple[int, int, int]], list[float]]:
        seen, users_per_target = [], []
        for batch in loader:
            targets = batch[TARGETS_FIELD]
            has = targets > 0
            if loader is split:
                assert has.sum(dim=1).tolist() == [1] * len(targets)
                assert (batch["item_length"] - 1).tolist() == has.float().argmax(dim=1).tolist()
            assert not batch["item_id_list"][~(torch.arange(targets.size(1))[None, :] < batch["item_length"][:, None])].any()
            rows, positions = has.nonzero(as_tuple=True)
            users = batch[ROW_USERS][rows]
            seen.extend(zip(users.tolist(), batch["item_id_list"][rows, 0].tolist(), targets[has].tolist()))
            users_per_target.append(len(torch.unique(users)) / int(has.sum()))
        return sorted(seen), users_per_target

    whole_seen, whole_ratio = epoch_targets(whole)
    split_seen, split_ratio = epoch_targets(split)
    assert split_seen == whole_seen  # the same (user, first item, target) examples, each once
    assert np.mean(split_ratio) > np.mean(whole_ratio)


def test_pieces_depend_on_seed_and_epoch(corpus_root) -> None:
    _, _, loader, _ = build(corpus_root, pretrain_targets_per_row=2)
    first = [batch.copy() for batch in loader.global_batches(1)]
    again = loader.global_batches(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    loader._prepare_pieces(1)
    chunk_of_1 = loader._pieces.chunk_of.copy()
    loader._prepare_pieces(2)
    assert not np.array_equal(chunk_of_1, loader._pieces.chunk_of)


def test_batch_slots_bound_the_padded_size_and_keep_every_target(corpus_root) -> None:
    _, _, free, _ = build(corpus_root, pretrain_batch_slots=0)
    _, _, bounded, _ = build(corpus_root, pretrain_batch_slots=20)
    free.set_epoch(0)
    bounded.set_epoch(0)
    free_batches, bounded_batches = list(free), list(bounded)
    assert len(bounded_batches) > len(free_batches)
    assert max(b["item_id_list"].numel() for b in free_batches) > 20
    for batch in bounded_batches:
        assert batch["item_id_list"].numel() <= 20 or len(batch["item_id_list"]) == 1

    def examples(batches) -> list[tuple[int, int, int]]:
        seen = []
        for batch in batches:
            rows, _ = (batch[TARGETS_FIELD] > 0).nonzero(as_tuple=True)
            seen.extend(zip(batch[ROW_USERS][rows].tolist(), batch["item_id_list"][rows, 0].tolist(),
                            batch[TARGETS_FIELD][batch[TARGETS_FIELD] > 0].tolist()))
        return sorted(seen)

    assert examples(bounded_batches) == examples(free_batches)


def test_domain_batches_hold_one_domain_and_keep_every_target(corpus_root) -> None:
    _, dataset, mixed, _ = build(corpus_root)
    _, _, by_domain, _ = build(corpus_root, pretrain_domain_batches=True)
    mixed.set_epoch(0)
    by_domain.set_epoch(0)
    domain = dataset.item_domain

    def domains_per_batch(batches) -> list[int]:
        return [len(torch.unique(domain[batch["item_id_list"][batch["item_id_list"] > 0]])) for batch in batches]

    mixed_batches, domain_batches = list(mixed), list(by_domain)
    assert max(domains_per_batch(mixed_batches)) == 2
    assert domains_per_batch(domain_batches) == [1] * len(domain_batches)

    def targets(batches) -> list[tuple[int, int]]:
        return sorted((int(user), int(target)) for batch in batches
                      for user, target in zip(batch[ROW_USERS].repeat_interleave((batch[TARGETS_FIELD] > 0).sum(dim=1)),
                                              batch[TARGETS_FIELD][batch[TARGETS_FIELD] > 0]))

    assert targets(domain_batches) == targets(mixed_batches)
