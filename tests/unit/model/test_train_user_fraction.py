"""``train_user_fraction``: a data-scarce copy of a domain, the same users for every model and seed."""
from __future__ import annotations

import pytest
from model_fixtures import build

from recbole_unisrec.data.dataset import sampled_users


def training_users(train) -> set[str]:
    dataset = train._dataset
    tokens = dataset.field2id_token[dataset.uid_field]
    return {tokens[int(u)] for u in dataset.inter_feat[dataset.uid_field]}


def test_sampled_users_is_a_seeded_subset_of_the_rounded_size():
    users = [f"u{i}" for i in range(48)]
    picked = sampled_users(users, 0.25, seed=0)
    assert len(picked) == 12 and len(set(picked)) == 12 and set(picked) <= set(users)
    assert picked == sampled_users(users, 0.25, seed=0)
    assert picked != sampled_users(users, 0.25, seed=1)
    assert len(sampled_users(users, 0.001, seed=0)) == 1
    assert sampled_users(users, 1.0, seed=3) == users


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(ValueError, match="train_user_fraction must be in"):
        sampled_users(["a", "b"], fraction, seed=0)


def test_training_keeps_the_sampled_users_rows_and_evaluation_keeps_everyone(tiny_root):
    _, full_dataset, full_train, full_valid, full_test, _ = build(tiny_root, model="SASRec")
    _, _, train, valid, test, _ = build(tiny_root, model="SASRec", train_user_fraction=0.25)
    all_users = sorted(training_users(full_train))
    assert len(all_users) == 48
    kept = set(sampled_users(all_users, 0.25, seed=0))
    assert training_users(train) == kept
    rows_per_user = len(full_train._dataset) // 48
    assert len(train._dataset) == 12 * rows_per_user
    assert len(valid._dataset) == len(full_valid._dataset) == 48
    assert len(test._dataset) == len(full_test._dataset) == 48


def test_the_sample_depends_on_train_user_seed_not_on_the_model_seed(tiny_root):
    def users(**overrides):
        return training_users(build(tiny_root, model="SASRec", train_user_fraction=0.25, **overrides)[2])

    assert users(seed=7) == users(seed=8)
    assert users(train_user_seed=0) != users(train_user_seed=1)


def test_unisrec_trains_on_the_same_sample_as_the_baselines(tiny_root):
    unisrec_train = build(tiny_root, train_user_fraction=0.25)[2]
    sasrec_train = build(tiny_root, model="SASRec", train_user_fraction=0.25)[2]
    assert training_users(unisrec_train) == training_users(sasrec_train)
    assert len(unisrec_train._dataset) == len(sasrec_train._dataset)
