"""Real data: shipped Scientific through the dataset classes, RecBole's Trainer and the encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recbole_unisrec.config import Config
from recbole_unisrec.data.layout import SHIPPED_DATA
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.quick_start import run
from recbole_unisrec.registry import create_dataset, get_model
from recbole_unisrec.text import encoder
from recbole_unisrec.text.cache import text_vectors
from recbole_unisrec.text.encoder import EncoderSpec


def test_scientific_text_vectors_are_encoded_once(monkeypatch) -> None:
    table = text_vectors(SHIPPED_DATA, "Scientific", EncoderSpec(), show_progress=False)
    assert table.shape == (4385, 384) and table.dtype == np.float32

    def refuse(*args, **kwargs):
        raise AssertionError("a cached table must not load the language model")

    monkeypatch.setattr(encoder, "load_model", refuse)
    again = text_vectors(SHIPPED_DATA, "Scientific", EncoderSpec(), show_progress=False)
    assert np.array_equal(np.asarray(again), np.asarray(table))


@pytest.mark.parametrize("model", ["SASRec"])
def test_recbole_model_trains_and_reloads_best_checkpoint(tmp_path, model) -> None:
    """One epoch of a stock RecBole model; RecBole's own best-model reload, safe to load."""
    settings = {"epochs": 1, "hidden_size": 16, "inner_size": 32, "n_layers": 1, "train_batch_size": 4096,
                "eval_batch_size": 4096, "checkpoint_dir": str(tmp_path), "show_progress": False,
                "metric_decimal_place": 10}
    result = run(model, "Scientific", config_dict=settings)
    checkpoint = torch.load(result["checkpoint"], weights_only=True)
    assert checkpoint["config"]["model"] == model and checkpoint["epoch"] == 0
    assert set(result["test_result"]) == {"recall@10", "recall@50", "ndcg@10", "ndcg@50"}
    assert 0 < result["test_result"]["recall@50"] <= 1
    # the reported metrics are the checkpoint's, recomputed by brute force over all 4385 items
    config = Config(model=model, dataset="Scientific", config_dict=settings)
    train, _, test = data_preparation(config, create_dataset(config))
    net = get_model(model)(config, train._dataset)
    net.load_state_dict(checkpoint["state_dict"])
    net.eval()
    ranks = []
    with torch.no_grad():
        for interaction, _, _, targets in test:
            scores = net.full_sort_predict(interaction).reshape(len(interaction), -1).double().numpy()
            target_scores = scores[np.arange(len(scores)), targets.numpy()]
            ranks.extend(1 + (scores[:, 1:] > target_scores[:, None]).sum(axis=1))
    ranks = np.asarray(ranks, dtype=np.float64)
    assert len(ranks) == len(test._dataset) and ranks.max() <= 4385
    for k in (10, 50):
        assert abs(result["test_result"][f"recall@{k}"] - np.mean(ranks <= k)) < 1e-9, k
        assert abs(result["test_result"][f"ndcg@{k}"] - np.mean(np.where(ranks <= k, 1 / np.log2(ranks + 1), 0))) < 1e-9, k


def test_unisrec_from_scratch_on_scientific(tmp_path) -> None:
    """UniSRec, inductive, one epoch on the real data: the loss falls below chance level and
    the text-only model ranks test targets far above random (random Recall@50 is 50/4385)."""
    result = run("UniSRec", "Scientific", config_dict={
        "epochs": 1, "checkpoint_dir": str(tmp_path), "show_progress": False, "train_stage": "inductive_ft",
    })
    assert result["test_result"]["recall@50"] > 10 * 50 / 4385
    # every weight trains: position embedding 50 x 300; 2 Transformer layers of q, k, v and output
    # projections 4 x (300 x 300 + 300), a 300 -> 256 -> 300 feed-forward (77,056 + 77,100) and two
    # LayerNorms (2 x 600); the input LayerNorm (600); the MoE adaptor (930,816, as below)
    layer = 4 * (300 * 300 + 300) + (300 * 256 + 256) + (256 * 300 + 300) + 2 * 600
    assert result["trainable_parameters"] == 50 * 300 + 2 * layer + 600 + 930_816 > 0


SHIPPED_CHECKPOINTS = sorted((SHIPPED_DATA.parent / "checkpoints").glob("*.pth"))


def test_two_checkpoints_ship() -> None:
    assert [path.name for path in SHIPPED_CHECKPOINTS] == ["UniSRec-BTGYMS-3epochs.pth", "UniSRec-BTGYMS-fixed-1epoch.pth"]


@pytest.mark.parametrize("shipped", SHIPPED_CHECKPOINTS, ids=lambda path: path.stem)
def test_shipped_checkpoint_fine_tunes_on_scientific(shipped, tmp_path) -> None:
    """The README's main job: a shipped pre-trained checkpoint, adaptor-only fine-tuning on
    Scientific. Loaded safely; the Transformer stays bit-equal; one epoch already ranks well."""
    checkpoint = torch.load(shipped, weights_only=True)
    assert checkpoint["domains"] == ["Beauty", "Toys", "Games", "Yelp", "MicroLens", "Steam"]
    result = run("UniSRec", "Scientific", config_dict={
        "epochs": 1, "checkpoint_dir": str(tmp_path), "show_progress": False, "train_stage": "inductive_ft",
    }, pretrained=str(shipped), freeze=True)
    # the MoE adaptor, 8 experts x (384 + 384 x 300) + two 384 x 8 gates, and the input LayerNorm (2 x 300)
    assert result["trainable_parameters"] == 930_816 + 600
    tuned = torch.load(result["checkpoint"], weights_only=True)["state_dict"]
    for name, value in checkpoint["state_dict"].items():
        if name.startswith("trm_encoder.") or name.startswith("position_embedding."):
            assert torch.equal(tuned[name], value), name
    assert result["test_result"]["ndcg@10"] > 0.03  # from-scratch models need several epochs for this
