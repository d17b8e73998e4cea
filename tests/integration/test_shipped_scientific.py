"""Real data: shipped Scientific through the dataset classes, RecBole's Trainer and the encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recbole_unisrec.data.layout import SHIPPED_DATA
from recbole_unisrec.quick_start import run
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
    result = run(model, "Scientific", config_dict={
        "epochs": 1, "hidden_size": 16, "inner_size": 32, "n_layers": 1, "train_batch_size": 4096,
        "eval_batch_size": 4096, "checkpoint_dir": str(tmp_path), "show_progress": False,
    })
    checkpoint = torch.load(result["checkpoint"], weights_only=True)
    assert checkpoint["config"]["model"] == model and checkpoint["epoch"] == 0
    assert set(result["test_result"]) == {"recall@10", "recall@50", "ndcg@10", "ndcg@50"}
    assert 0 < result["test_result"]["recall@50"] <= 1


def test_unisrec_from_scratch_on_scientific(tmp_path) -> None:
    """UniSRec, inductive, one epoch on the real data: the loss falls below chance level and
    the text-only model ranks test targets far above random (random Recall@50 is 50/4385)."""
    result = run("UniSRec", "Scientific", config_dict={
        "epochs": 1, "checkpoint_dir": str(tmp_path), "show_progress": False, "train_stage": "inductive_ft",
    })
    assert result["test_result"]["recall@50"] > 10 * 50 / 4385
    assert result["trainable_parameters"] > 0


SHIPPED_CHECKPOINT = SHIPPED_DATA.parent / "checkpoints" / "UniSRec-BTGYMS-3epochs.pth"


def test_shipped_checkpoint_fine_tunes_on_scientific(tmp_path) -> None:
    """The README's main job: the shipped pre-trained checkpoint, adaptor-only fine-tuning on
    Scientific. Loaded safely; the Transformer stays bit-equal; one epoch already ranks well."""
    checkpoint = torch.load(SHIPPED_CHECKPOINT, weights_only=True)
    assert checkpoint["domains"] == ["Beauty", "Toys", "Games", "Yelp", "MicroLens", "Steam"]
    result = run("UniSRec", "Scientific", config_dict={
        "epochs": 1, "checkpoint_dir": str(tmp_path), "show_progress": False, "train_stage": "inductive_ft",
    }, pretrained=str(SHIPPED_CHECKPOINT), freeze=True)
    # the MoE adaptor, 8 experts x (384 + 384 x 300) + two 384 x 8 gates, and the input LayerNorm (2 x 300)
    assert result["trainable_parameters"] == 930_816 + 600
    tuned = torch.load(result["checkpoint"], weights_only=True)["state_dict"]
    for name, value in checkpoint["state_dict"].items():
        if name.startswith("trm_encoder.") or name.startswith("position_embedding."):
            assert torch.equal(tuned[name], value), name
    assert result["test_result"]["ndcg@10"] > 0.03  # from-scratch models need several epochs for this
