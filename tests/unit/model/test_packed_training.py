"""The packed path (one row per history, a target per position; batches padded to their own
longest row) computes exactly what RecBole's per-prefix path computes."""
from __future__ import annotations

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_unisrec.data.dataloader import TARGETS_FIELD, PackedTrainDataLoader, pack_prefix_rows

from model_fixtures import build


def test_pack_prefix_rows_merges_exact_prefixes_only() -> None:
    # user 1: prefixes of [5 6 7 8] (targets 6, 7, 8) and a sliding window [6 7 8] -> 9
    # user 2: one row, and a duplicate of it (kept apart, counted twice)
    users = np.array([1, 1, 1, 1, 2, 2])
    histories = np.array([[5, 0, 0], [5, 6, 0], [5, 6, 7], [6, 7, 8], [3, 0, 0], [3, 0, 0]])
    lengths = np.array([1, 2, 3, 3, 1, 1])
    targets = np.array([6, 7, 8, 9, 4, 4])
    rows = pack_prefix_rows(users, histories, lengths, targets)
    as_tuples = sorted(zip(rows.items.tolist(), rows.targets.tolist(), rows.lengths.tolist()))
    assert as_tuples == sorted([
        ([5, 6, 7], [6, 7, 8], 3),
        ([6, 7, 8], [0, 0, 9], 3),
        ([3, 0, 0], [4, 0, 0], 1),
        ([3, 0, 0], [4, 0, 0], 1),
    ])
    assert rows.target_counts.sum() == len(targets)


def _per_prefix_loss(model, train) -> torch.Tensor:
    feat = train._dataset.inter_feat
    batch = Interaction({"item_id_list": feat["item_id_list"], "item_length": feat["item_length"], "item_id": feat["item_id"]})
    return model.calculate_loss(batch)


def test_packed_loss_equals_per_prefix_loss(tiny_root) -> None:
    """With histories truncated to 4 items, long users also yield sliding-window rows."""
    config, _, train, *_, model = build(tiny_root, MAX_ITEM_LIST_LENGTH=4, train_batch_size=10_000)
    model.eval()  # dropout and gate noise off: the two losses must agree exactly
    assert isinstance(train, PackedTrainDataLoader)
    batches = list(train)
    assert len(batches) == 1
    assert int((batches[0][TARGETS_FIELD] > 0).sum()) == len(train._dataset.inter_feat)
    assert (train.rows.lengths == 4).sum() > 0 and (train.rows.target_counts == 1).sum() > 0
    torch.testing.assert_close(model.calculate_loss(batches[0]), _per_prefix_loss(model, train), rtol=1e-5, atol=1e-6)


def test_every_prefix_row_is_trained_once_per_epoch(tiny_root) -> None:
    *_, train, _, _, _ = build(tiny_root, train_batch_size=16)
    seen = []
    for batch in train:
        has = batch[TARGETS_FIELD] > 0
        assert batch["item_id_list"].shape[1] == int(batch["item_length"].max())  # padded to its own longest row
        assert int(has.sum()) <= 16 + 6
        seen.append(int(has.sum()))
    assert sum(seen) == len(train._dataset.inter_feat)


def test_dynamic_padding_changes_no_score(tiny_root) -> None:
    *_, test, model = build(tiny_root)
    model.eval()
    feat = test._dataset.inter_feat
    together = model.full_sort_predict(Interaction({"item_id_list": feat["item_id_list"], "item_length": feat["item_length"]}))
    for row in range(0, len(feat), 7):
        length = int(feat["item_length"][row])
        alone = Interaction({"item_id_list": feat["item_id_list"][row:row + 1, :length], "item_length": feat["item_length"][row:row + 1]})
        torch.testing.assert_close(model.full_sort_predict(alone)[0], together[row], rtol=1e-5, atol=1e-5)


def test_batches_are_reproducible_per_epoch(tiny_root) -> None:
    *_, train, _, _, _ = build(tiny_root, train_batch_size=16)
    first = [b["item_id_list"].clone() for b in train]
    train.set_epoch(0)
    again = [b["item_id_list"].clone() for b in train]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    other_epoch = [b["item_id_list"].clone() for b in train]
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other_epoch))
