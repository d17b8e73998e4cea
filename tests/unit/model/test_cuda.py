"""The model, the packed loss, AMP, freezing and checkpoints on a CUDA card.

Skipped where torch sees no card (CI). The text encoder is not under test here: seeded random
vectors, one per text, stand in for it, so these tests need no language-model weights.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from recbole_unisrec.checkpoint import freeze_for_finetuning, load_checkpoint
from recbole_unisrec.quick_start import run
from recbole_unisrec.registry import get_trainer
from recbole_unisrec.text import encoder

from model_fixtures import TINY_CONFIG, build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA card")
ON_CUDA = {"use_gpu": True}  # the fixtures pin unit tests to CPU


@pytest.fixture(autouse=True)
def seeded_text_vectors(monkeypatch) -> None:
    def encode_texts(texts, spec, show_progress=False):
        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(384) for t in texts]).astype(np.float32)

    monkeypatch.setattr(encoder, "encode_texts", encode_texts)


def test_packed_loss_on_cuda_equals_cpu(tiny_root) -> None:
    config, _, train, *_, model = build(tiny_root, MAX_ITEM_LIST_LENGTH=4, train_batch_size=10_000, **ON_CUDA)
    assert config["device"].type == "cuda"
    model.eval()
    batch = next(iter(train))
    cpu_loss = model.calculate_loss(batch)
    cuda_loss = model.to("cuda").calculate_loss(batch.to("cuda"))
    assert cuda_loss.device.type == "cuda"
    torch.testing.assert_close(cuda_loss.cpu(), cpu_loss, rtol=1e-4, atol=1e-5)


def test_amp_training_moves_only_the_unfrozen_weights(tiny_root) -> None:
    # the float16 scaler skips the first steps of every epoch (RecBole makes a new one each epoch): many small steps
    config, _, train, valid, _, model = build(tiny_root, epochs=5, train_batch_size=16, enable_amp=True,
                                              enable_scaler=True, train_stage="inductive_ft", **ON_CUDA)
    model = model.to(config["device"])
    freeze_for_finetuning(model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    score, _ = trainer.fit(train, valid, saved=False, show_progress=False)
    assert np.isfinite(score)
    for name, parameter in model.named_parameters():
        assert parameter.device.type == "cuda"
        assert torch.isfinite(parameter).all(), name
        moved = not torch.equal(parameter, before[name])
        assert moved == name.startswith(("moe_adaptor.", "LayerNorm.")), f"{name} moved={moved}"


def test_checkpoint_written_on_cuda_scores_the_same_on_cpu(tiny_root, tmp_path) -> None:
    settings = {**TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path), "epochs": 2,
                "train_stage": "transductive_ft", **ON_CUDA}
    result = run("UniSRec", "Tiny", config_dict=settings)
    checkpoint = load_checkpoint(result["checkpoint"], map_location="cpu")
    config, _, _, _, test, cpu_model = build(tiny_root, train_stage="transductive_ft")
    cpu_model.load_state_dict(checkpoint["state_dict"])
    cuda_model = build(tiny_root, train_stage="transductive_ft")[-1].to("cuda")
    cuda_model.load_state_dict(checkpoint["state_dict"])
    cpu_model.eval()
    cuda_model.eval()
    batch = next(iter(test))[0]
    with torch.no_grad():
        cpu_scores = cpu_model.full_sort_predict(batch)
        cuda_scores = cuda_model.full_sort_predict(batch.to("cuda")).cpu()
    assert cpu_scores.shape == (len(batch), test._dataset.item_num)
    torch.testing.assert_close(cuda_scores, cpu_scores, rtol=1e-4, atol=1e-4)
