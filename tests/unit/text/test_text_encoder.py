import json

import numpy as np
import pytest

from recbole_unisrec.text import EncoderSpec, ModelLoadError, encode_texts, load_model, model_identity, vector_size

TEXTS = [
    "Digital caliper.",
    "PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll. Industrial & Scientific.",
    "Nitrile gloves, powder free, box of 100. Lab supplies. Generic.",
    "Beaker.",
    "Stainless steel lab stand with clamp and ring, adjustable height. Lab equipment.",
]


def test_spec_validates_pooling():
    with pytest.raises(ValueError, match="pooling"):
        EncoderSpec(pooling="max")
    with pytest.raises(ValueError, match="batch_size"):
        EncoderSpec(batch_size=0)


def test_vector_size_from_config_without_loading(no_model):
    assert vector_size(EncoderSpec()) == 384


def test_shape_dtype_and_pooling_differ():
    mean = encode_texts(TEXTS, EncoderSpec(pooling="mean"))
    cls = encode_texts(TEXTS, EncoderSpec(pooling="cls"))
    assert mean.shape == cls.shape == (len(TEXTS), 384)
    assert mean.dtype == cls.dtype == np.float32
    assert np.isfinite(mean).all()
    assert not np.allclose(mean, cls, atol=1e-3)


def test_sorted_batches_equal_one_text_at_a_time():
    for pooling in ("mean", "cls"):
        batched = encode_texts(TEXTS, EncoderSpec(pooling=pooling, batch_size=2))
        single = np.stack([encode_texts([text], EncoderSpec(pooling=pooling, batch_size=1))[0] for text in TEXTS])
        np.testing.assert_allclose(batched, single, atol=1e-5)
        # rows come back in input order, not in length order
        np.testing.assert_allclose(encode_texts(TEXTS[::-1], EncoderSpec(pooling=pooling))[::-1], batched, atol=1e-5)


def test_truncation_to_max_length():
    long = ["word " * 1000]
    assert encode_texts(long, EncoderSpec(max_length=16)).shape == (1, 384)
    # one token per word: 16 tokens are [CLS], the first 14 words and [SEP], exactly the vector of those 14 words
    words = "red green blue black white cat dog bird fish tree house car road river hill lake sun moon star sky".split()
    text, first_14 = " ".join(words * 50), " ".join(words[:14])
    for pooling in ("mean", "cls"):
        cut = encode_texts([text], EncoderSpec(max_length=16, pooling=pooling))
        np.testing.assert_allclose(cut, encode_texts([first_14], EncoderSpec(pooling=pooling)), rtol=0, atol=1e-5)
        assert not np.allclose(cut, encode_texts([text], EncoderSpec(max_length=17, pooling=pooling)), atol=1e-2)


def test_no_texts_no_model(no_model):
    assert encode_texts([], EncoderSpec()).shape == (0, 384)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="neither a local model directory"):
        load_model(str(tmp_path / "no" / "such" / "model"))
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(ModelLoadError, match="broken-model.*local directory|hub"):
        load_model(str(broken))


def test_model_identity_follows_content_not_path(tmp_path):
    def fake(folder, weights: bytes):
        folder.mkdir()
        (folder / "config.json").write_text('{"hidden_size": 8}')
        (folder / "model.safetensors").write_bytes(weights)
        (folder / "README.md").write_text(str(folder))
        return str(folder)

    a = fake(tmp_path / "a", b"w" * 100)
    b = fake(tmp_path / "b", b"w" * 100)
    c = fake(tmp_path / "c", b"v" * 100)
    assert model_identity(a) == model_identity(b) != model_identity(c)
    assert model_identity("default") == model_identity("default")


def test_a_run_encodes_on_its_own_device():
    import torch

    from recbole_unisrec.data.dataset import encoder_spec_from_config

    settings = {"text_encoder": None, "text_pooling": "cls", "text_max_length": None, "text_batch_size": 32}
    assert encoder_spec_from_config({**settings, "device": torch.device("cuda:1")}).device == "cuda:1"
    assert encoder_spec_from_config({**settings, "device": None}) == EncoderSpec(pooling="cls", batch_size=32)
