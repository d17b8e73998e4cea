"""Packed-row training of SASRec and FDSAText computes exactly RecBole's per-prefix loss."""
from __future__ import annotations

import math

import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.model.sequential_recommender.sasrec import SASRec as RecBoleSASRec

from baseline_fixtures import assert_metrics_of_checkpoint, build
from recbole_unisrec.baselines import run_baseline
from recbole_unisrec.data.dataloader import TARGETS_FIELD, PackedTrainDataLoader


def per_prefix_loss(net, train) -> torch.Tensor:
    feat = train._dataset.inter_feat
    return net.calculate_loss(Interaction({
        "item_id_list": feat["item_id_list"], "item_length": feat["item_length"], "item_id": feat["item_id"]}))


@pytest.mark.parametrize("model", ["SASRec", "FDSAText"])
@pytest.mark.parametrize("max_length", [50, 4])
def test_packed_loss_equals_per_prefix_loss(tiny_config, model, max_length) -> None:
    """max_length 4 truncates the longer histories, so sliding-window rows (one target each) mix in."""
    _, train, _, net = build(model, {**tiny_config, "packed_training": True, "MAX_ITEM_LIST_LENGTH": max_length,
                                  "train_batch_size": 100_000})
    net.eval()
    assert isinstance(train, PackedTrainDataLoader)
    (batch,) = list(train)
    prefix_rows = len(train._dataset.inter_feat)
    assert int((batch[TARGETS_FIELD] > 0).sum()) == prefix_rows
    assert len(batch) == (48 if max_length == 50 else len(train.rows.lengths)) and len(batch) < prefix_rows
    torch.testing.assert_close(net.calculate_loss(batch), per_prefix_loss(net, train), rtol=1e-5, atol=1e-6)


def test_packed_gradients_equal_per_prefix_gradients(tiny_config) -> None:
    _, train, _, net = build("SASRec", {**tiny_config, "packed_training": True, "train_batch_size": 100_000})
    net.eval()
    (batch,) = list(train)
    net.calculate_loss(batch).backward()
    packed = {name: p.grad.clone() for name, p in net.named_parameters()}
    net.zero_grad()
    per_prefix_loss(net, train).backward()
    for name, p in net.named_parameters():
        torch.testing.assert_close(packed[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_sasrec_is_recboles_outside_packed_batches(tiny_config) -> None:
    _, train, test, net = build("SASRec", tiny_config)
    assert isinstance(net, RecBoleSASRec) and not isinstance(train, PackedTrainDataLoader)
    net.eval()
    batch = next(iter(test))[0]
    stock = RecBoleSASRec.forward(net, batch["item_id_list"], batch["item_length"])
    assert torch.equal(net.forward(batch["item_id_list"], batch["item_length"]), stock)
    assert net.all_position_outputs(batch["item_id_list"], batch["item_length"]).shape == (*batch["item_id_list"].shape, 16)
    assert torch.equal(net.forward(batch["item_id_list"], batch["item_length"]), stock)  # back to one position


def test_packed_training_runs_end_to_end(tiny_config, monkeypatch) -> None:
    """Packed batches reach the trainer, the reported metrics are the checkpoint's, and with one
    batch per epoch (same loss, same gradients) packed training trains RecBole's model."""
    packed_batches = []
    collate = PackedTrainDataLoader.collate_fn
    monkeypatch.setattr(PackedTrainDataLoader, "collate_fn",
                        lambda self, index: packed_batches.append(len(index)) or collate(self, index))
    settings = {**tiny_config, "packed_training": True, "epochs": 2, "metric_decimal_place": 10}
    result = run_baseline("SASRec", "Tiny", config_dict=settings)
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0
    assert sum(packed_batches) == 2 * 48 and len(packed_batches) > 2  # the 48 user rows, each once per epoch
    assert_metrics_of_checkpoint(result, settings)

    whole = {**settings, "train_batch_size": 100_000}
    seen = len(packed_batches)
    packed = run_baseline("SASRec", "Tiny", config_dict=whole)
    stock = run_baseline("SASRec", "Tiny", config_dict={**whole, "packed_training": False})
    assert packed_batches[seen:] == [48, 48]
    for key, value in stock["test_result"].items():
        assert math.isclose(packed["test_result"][key], value, rel_tol=1e-6, abs_tol=1e-9), key
    packed_state = torch.load(packed["checkpoint"], weights_only=True)["state_dict"]
    stock_state = torch.load(stock["checkpoint"], weights_only=True)["state_dict"]
    assert packed_state.keys() == stock_state.keys()
    for name, value in stock_state.items():
        torch.testing.assert_close(packed_state[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_unsupported_model_or_loss_is_a_one_line_error(tiny_config) -> None:
    with pytest.raises(ValueError, match="packed_training: GRU4Rec cannot train on packed rows"):
        build("GRU4Rec", {**tiny_config, "packed_training": True})
    with pytest.raises(ValueError, match="packed_training needs loss_type CE"):
        build("SASRec", {**tiny_config, "packed_training": True, "loss_type": "BPR",
                         "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}})
