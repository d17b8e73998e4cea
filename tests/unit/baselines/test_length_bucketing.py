"""Length bucketing for stock RecBole models: same scores, trimmed batches, every row once per epoch."""
from __future__ import annotations

import pytest
import torch

from baseline_fixtures import assert_metrics_of_checkpoint, build
from recbole_unisrec.baselines import run_baseline
from recbole_unisrec.data.dataloader import LengthBucketTrainDataLoader


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec", "NARM", "FDSAText"])
def test_trimmed_rows_score_exactly_as_padded_rows(tiny_config, model) -> None:
    """Eval-mode scores of every test row padded to MAX_ITEM_LIST_LENGTH (50) and cut to the
    longest history of the batch are the same up to float32 rounding (different matrix shapes
    round differently: about 3e-8 here, as large as RecBole's own difference between scoring a row
    alone and in a batch), and rank the items identically."""
    _, _, test, net = build(model, {**tiny_config, "length_bucketing": True})
    net.eval()
    batch = next(iter(test))[0]
    history = batch["item_id_list"]
    longest = int(batch["item_length"].max())
    padded = torch.zeros(len(history), 50, dtype=history.dtype)
    padded[:, : history.size(1)] = history
    assert longest < 10 and history[:, longest:].eq(0).all()
    with torch.no_grad():
        batch.interaction["item_id_list"] = padded
        full = net.full_sort_predict(batch)
        batch.interaction["item_id_list"] = padded[:, :longest]
        cut = net.full_sort_predict(batch)
    assert torch.allclose(full, cut, rtol=0, atol=1e-6)
    assert torch.equal(full.topk(50).indices, cut.topk(50).indices)


def test_loader_batches_by_length_and_trims(tiny_config) -> None:
    config, train, _, _ = build("SASRec", {**tiny_config, "length_bucketing": True})
    assert isinstance(train, LengthBucketTrainDataLoader)
    lengths = train._dataset.inter_feat["item_length"].numpy()
    epochs = []
    for _ in range(2):
        seen = []
        for batch in train:
            seq, length = batch["item_id_list"], batch["item_length"]
            assert seq.shape[1] == int(length.max())  # trimmed to its longest history
            assert len(length) <= config["train_batch_size"]
            seen.append(batch)
        epochs.append(seen)
        rows = sorted((tuple(b["item_id_list"][i, :b["item_length"][i]].tolist()), int(b["item_id"][i]))
                      for b in seen for i in range(len(b)))
        stock = train._dataset.inter_feat
        expected = sorted((tuple(stock["item_id_list"][i, :lengths[i]].tolist()), int(stock["item_id"][i]))
                          for i in range(len(lengths)))
        assert rows == expected  # every stock row exactly once
    # sorted by length: a batch holds at most two adjacent lengths' worth of rows
    spreads = [int(b["item_length"].max() - b["item_length"].min()) for b in epochs[0]]
    assert max(spreads) <= 1
    # random batch order, different per epoch, reproducible from the seed
    first = [b["item_id"].tolist() for b in epochs[0]]
    second = [b["item_id"].tolist() for b in epochs[1]]
    assert first != second
    _, again, _, _ = build("SASRec", {**tiny_config, "length_bucketing": True})
    assert [b["item_id"].tolist() for b in again] == first


@pytest.mark.parametrize("model", ["Caser", "BERT4Rec"])
def test_fixed_length_models_are_refused(tiny_config, model) -> None:
    with pytest.raises(ValueError, match=f"length_bucketing: {model} is not known"):
        build(model, {**tiny_config, "length_bucketing": True})


def test_sasrec_trains_with_bucketing(tiny_config) -> None:
    """The metrics reported through the bucketed test loader (users sorted by length, batches cut)
    are those of the saved checkpoint on RecBole's stock loader, recomputed by brute force."""
    settings = {**tiny_config, "length_bucketing": True, "metric_decimal_place": 10, "eval_batch_size": 8}
    result = run_baseline("SASRec", "Tiny", config_dict=settings)
    assert 0 < result["test_result"]["recall@50"] <= 1
    assert_metrics_of_checkpoint(result, {**settings, "length_bucketing": False})


def test_off_by_default(tiny_config) -> None:
    _, train, _, _ = build("SASRec", tiny_config)
    assert not isinstance(train, LengthBucketTrainDataLoader)
    width = train._dataset.inter_feat["item_id_list"].shape[1]
    assert all(batch["item_id_list"].shape[1] == width for batch in train)


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec"])
def test_bucketed_evaluation_gives_the_stock_metrics(tiny_config, model) -> None:
    from recbole.trainer import Trainer

    from recbole_unisrec.data.dataloader import LengthBucketEvalDataLoader

    config, _, stock_test, net = build(model, {**tiny_config, "eval_batch_size": 8, "topk": [1, 5, 10, 50]})
    bucket_config, _, bucket_test, _ = build(model, {**tiny_config, "eval_batch_size": 8, "topk": [1, 5, 10, 50], "length_bucketing": True})
    assert isinstance(bucket_test, LengthBucketEvalDataLoader)
    batches = [batch for batch, *_ in bucket_test]
    assert len(batches) == 6 and [int(b["item_length"].max()) for b in batches] == sorted(int(b["item_length"].max()) for b in batches)
    assert all(b["item_id_list"].shape[1] == int(b["item_length"].max()) for b in batches)
    assert sorted(u for b in batches for u in b["user_id"].tolist()) == sorted(stock_test._dataset.inter_feat["user_id"].tolist())
    trainer = Trainer(config, net)
    stock = trainer.evaluate(stock_test, load_best_model=False)
    bucketed = trainer.evaluate(bucket_test, load_best_model=False)
    assert dict(stock) == dict(bucketed)
