"""The augmented view: order kept, lengths recomputed, exactly item drop on every prefix."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pretrain_fixtures import NO_RANDOMNESS, build

from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.data.pretrain_loader import (
    AUG_LENGTH, AUG_POSITIONS, AUG_ROWS, PRETRAIN_VECTORS, SEQ_ROWS, TARGET_ROWS, augment,
)


def test_augment_hand_made_batch() -> None:
    items = np.array([[5, 6, 7, 8, 0], [3, 4, 0, 0, 0], [9, 10, 11, 12, 13], [20, 21, 22, 0, 0]])
    lengths = np.array([4, 2, 5, 3])
    keep = np.array([
        [True, False, True, False, True],   # drops 6 and 8; position 4 is padding
        [False, False, True, True, True],   # first item kept regardless; 4 dropped
        [False, False, False, False, False],  # word-drop row: keep-mask unused
        [True, True, True, True, True],     # item drop keeping everything
    ])
    item_drop = np.array([True, True, False, True])
    word_drop = np.array([
        [True, True, True, True, True],     # ignored: item-drop row
        [True, True, True, True, True],
        [False, True, False, False, True],
        [True, True, True, True, True],
    ])
    view = augment(items, lengths, keep, item_drop, word_drop)
    assert view.lengths.tolist() == [2, 1, 5, 3]
    assert view.items.tolist() == [[5, 7, 0, 0, 0], [3, 0, 0, 0, 0], [9, 10, 11, 12, 13], [20, 21, 22, 0, 0]]
    assert view.word_drop.tolist() == [[False] * 5, [False] * 5, [False, True, False, False, True], [False] * 5]
    # the view of prefix t is the output at the last kept position <= t
    assert view.positions[0, :4].tolist() == [0, 0, 1, 1]
    assert view.positions[1, :2].tolist() == [0, 0]
    assert view.positions[2].tolist() == [0, 1, 2, 3, 4]
    assert view.positions[3, :3].tolist() == [0, 1, 2]


def test_augment_keeps_order_on_random_rows() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, size=64)
    items = np.where(np.arange(12)[None, :] < lengths[:, None], rng.integers(1, 99, size=(64, 12)), 0)
    keep, item_drop, word_drop = rng.random((64, 12)) > 0.3, rng.random(64) < 0.8, rng.random((64, 12)) < 0.2
    view = augment(items, lengths, keep, item_drop, word_drop)
    for row in range(64):
        n = lengths[row]
        kept = keep[row, :n].copy()
        kept[0] = True
        if not item_drop[row]:
            kept[:] = True
        expected = items[row, :n][kept]
        assert view.lengths[row] == len(expected)
        assert view.items[row, :len(expected)].tolist() == expected.tolist()
        assert not view.items[row, len(expected):].any()
        for t in range(n):
            assert view.positions[row, t] == kept[:t + 1].sum() - 1


def test_batch_fields_point_at_the_right_vectors(corpus_root) -> None:
    config, dataset, loader, _ = build(corpus_root)
    plm = dataset.plm_embedding.weight
    word = dataset.word_drop_embedding.weight
    assert not torch.equal(plm[1:], word[1:])
    loader.set_epoch(0)
    saw_word_drop = False
    for number, batch in enumerate(loader):
        if number == 4:
            break
        vectors = batch[PRETRAIN_VECTORS]
        items, targets = batch["item_id_list"], batch[TARGETS_FIELD]
        assert torch.equal(vectors[batch[SEQ_ROWS]], plm[items])
        assert torch.equal(vectors[batch[TARGET_ROWS]], plm[targets])
        assert (targets > 0).sum() <= config["train_batch_size"] + config["MAX_ITEM_LIST_LENGTH"]
        aug_rows = batch[AUG_ROWS]
        for row in range(len(items)):
            n = int(batch[AUG_LENGTH][row])
            for position in range(n):
                vector = vectors[aug_rows[row, position]]
                matches = [i for i in range(1, len(plm)) if torch.equal(vector, plm[i]) or torch.equal(vector, word[i])]
                assert matches, "every augmented slot holds an item's plain or word-dropped vector"
                saw_word_drop |= any(torch.equal(vector, word[i]) for i in matches)
    assert saw_word_drop


def test_draws_depend_on_seed_epoch_and_row_only(corpus_root) -> None:
    _, _, loader, _ = build(corpus_root)
    batches = loader.global_batches(3)
    union = np.concatenate(batches[:2])
    loader._prepare_draws(3)
    together = loader.collate_fn(union)
    first = loader.collate_fn(batches[0])
    n = len(batches[0])
    # the first rows of the union batch get exactly the views they get alone
    for row in range(n):
        length = int(first[AUG_LENGTH][row])
        assert int(together[AUG_LENGTH][row]) == length
        alone = first[PRETRAIN_VECTORS][first[AUG_ROWS][row, :length]]
        joint = together[PRETRAIN_VECTORS][together[AUG_ROWS][row, :length]]
        assert torch.equal(alone, joint)
    loader._prepare_draws(4)
    assert not all(torch.equal(a, b) for a, b in zip(loader.collate_fn(union)[AUG_ROWS], together[AUG_ROWS])) or \
        not torch.equal(loader.collate_fn(union)[PRETRAIN_VECTORS], together[PRETRAIN_VECTORS])


def test_epoch_batches_are_reproducible_and_resumable(corpus_root) -> None:
    _, _, loader, _ = build(corpus_root)
    loader.set_epoch(2)
    full = [batch[AUG_ROWS] for batch in loader]
    loader.set_epoch(2, start_batch=2)
    assert len(loader) == len(full) - 2
    rest = [batch[AUG_ROWS] for batch in loader]
    assert all(torch.equal(a, b) for a, b in zip(full[2:], rest)) and len(rest) == len(full) - 2


def test_shards_take_equal_numbers_of_batches(corpus_root) -> None:
    _, _, loader, _ = build(corpus_root, train_batch_size=10)
    everything = loader.global_batches(0)
    loader.shard_world = 3
    shards = []
    for rank in range(3):
        loader.shard_rank = rank
        shards.append(loader._plan_batches(0))
    assert len({len(shard) for shard in shards}) == 1
    assert len(shards[0]) == len(everything) // 3
    for step in range(len(shards[0])):
        for rank in range(3):
            assert np.array_equal(shards[rank][step], everything[3 * step + rank])


@pytest.mark.parametrize("coefficient", [1.0, 0.0])
def test_views_equal_augmenting_each_prefix_alone(corpus_root, coefficient) -> None:
    """The packed view of prefix t equals encoding, on its own, the item-dropped (or
    word-dropped) prefix: the causal, left-aligned encoding makes the packing exact."""
    _, dataset, loader, model = build(corpus_root, item_drop_coefficient=coefficient, item_drop_ratio=0.4, **NO_RANDOMNESS)
    model.eval()
    loader._prepare_draws(0)
    plm, word = dataset.plm_embedding.weight, dataset.word_drop_embedding.weight
    checked = 0
    for index in loader.global_batches(0)[:4]:
        checked += _check_views(model, loader.collate_fn(index), index, loader._draws, plm, word)
    assert checked >= 10
    assert loader._draws[1].all() if coefficient == 1.0 else not loader._draws[1].any()


def _check_views(model, batch, index, draws, plm, word) -> int:
    keep, item_drop, word_drop = draws
    checked = 0
    with torch.no_grad():
        adapted = model.moe_adaptor(batch[PRETRAIN_VECTORS])
        packed = model.encode_positions(adapted[batch[SEQ_ROWS]])
        aug = model.encode_positions(adapted[batch[AUG_ROWS]])
        for row, source in enumerate(index):
            length = int(batch["item_length"][row])
            for t in range(length):
                if batch[TARGETS_FIELD][row, t] == 0:
                    continue
                prefix = batch["item_id_list"][row, :t + 1]
                kept = torch.from_numpy(keep[source, :t + 1].copy())
                kept[0] = True
                if item_drop[source]:
                    vectors = plm[prefix[kept]]
                else:
                    use_word = torch.from_numpy(word_drop[source, :t + 1])
                    vectors = torch.where(use_word[:, None], word[prefix], plm[prefix])
                alone = model.encode_positions(model.moe_adaptor(vectors).unsqueeze(0))[0, -1]
                view = aug[row, batch[AUG_POSITIONS][row, t]]
                torch.testing.assert_close(view, alone, rtol=1e-5, atol=1e-5)
                plain = model.encode_positions(model.moe_adaptor(plm[prefix]).unsqueeze(0))[0, -1]
                torch.testing.assert_close(packed[row, t], plain, rtol=1e-5, atol=1e-5)
                checked += 1
    return checked
