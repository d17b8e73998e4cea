"""A checkpoint trained with another text encoder than the one available here: one clear line."""
from __future__ import annotations

import pytest
import torch

from recbole_unisrec.serving import EncoderMismatchError, Recommender


def save_variant(src: str, dst, change) -> str:
    checkpoint = torch.load(src, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, dst)
    return str(dst)


def test_recorded_identity_differs(annotated_transductive_ckpt, tmp_path) -> None:
    path = save_variant(annotated_transductive_ckpt, tmp_path / "other.pth",
                        lambda c: c["text_encoder"].update(identity="0123456789abcdef0123"))
    with pytest.raises(EncoderMismatchError) as error:
        Recommender.from_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message
    assert "trained with text encoder 'default' (identity 0123456789abcdef0123)" in message and "different model" in message


def test_encoder_not_available(inductive_ckpt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    def other_encoder(checkpoint):
        checkpoint.pop("text_encoder", None)  # a checkpoint without recorded identity: the config names it
        checkpoint["config"].update(text_encoder=str(tmp_path / "no-model"))

    path = save_variant(inductive_ckpt, tmp_path / "bert.pth", other_encoder)
    with pytest.raises(EncoderMismatchError) as error:
        Recommender.from_checkpoint(path)
    assert "\n" not in str(error.value) and "which is not available here" in str(error.value)


def test_other_encoder_named_without_identity(inductive_ckpt, tmp_path) -> None:
    other = tmp_path / "copy-of-something"
    other.mkdir()
    (other / "config.json").write_text('{"hidden_size": 384}')
    path = save_variant(inductive_ckpt, tmp_path / "unrecorded.pth", lambda c: c.pop("text_encoder", None))
    with pytest.raises(EncoderMismatchError, match=r"trained with text encoder 'default', not '.*copy-of-something'"):
        Recommender.from_checkpoint(path, text_encoder=str(other))
    with pytest.raises(EncoderMismatchError, match=r"identity .* but '.*copy-of-something' here is a different model"):
        Recommender.from_checkpoint(inductive_ckpt, text_encoder=str(other))  # recorded identity: caught too


def test_vector_width_differs(inductive_ckpt, tmp_path) -> None:
    """Weights for 768-d text vectors (e.g. BERT), but the named encoder gives 384-d vectors."""
    def widen(checkpoint):
        state = checkpoint["state_dict"]
        for name in list(state):
            if name.startswith("moe_adaptor."):
                tensor = state[name]
                if name.endswith(".bias") or name.startswith("moe_adaptor.w_"):
                    state[name] = torch.zeros(768, *tensor.shape[1:])
                else:  # expert weight [out, in]
                    state[name] = torch.zeros(tensor.shape[0], 768)

    path = save_variant(inductive_ckpt, tmp_path / "wide.pth", widen)
    with pytest.raises(EncoderMismatchError, match="trained on 768-d text vectors, but text encoder 'default' gives 384-d"):
        Recommender.from_checkpoint(path)
