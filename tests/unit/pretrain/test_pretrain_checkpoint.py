"""Pre-training checkpoints: plain tensors and values, safe to load, resumable, transferable."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from pretrain_fixtures import build

from recbole_unisrec.checkpoint import RESUME_STATE, CheckpointError, load_checkpoint, load_pretrained, write_slim_checkpoint
from recbole_unisrec.config import Config
from recbole_unisrec.trainer import CHECKPOINT_FORMAT, UniSRecPretrainTrainer

REQUIRED = {"state_dict", "config", "epoch", "resume_epoch", "resume_batch", "cur_step", "optimizer", "rng",
            "partial", "epoch_losses", "domains", "text_encoder", "world_size", "run_args", "format"}


@pytest.fixture
def trained(corpus_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # RecBole's log and TensorBoard folders are relative
    config, dataset, loader, model = build(corpus_root, checkpoint_dir=str(tmp_path / "saved"), pretrain_epochs=1)
    trainer = UniSRecPretrainTrainer(config, model, domains=dataset.domain_names, run_args={"dataset": "FT"})
    losses = trainer.pretrain(loader)
    return trainer, losses, loader


def test_checkpoint_loads_with_weights_only(trained) -> None:
    trainer, losses, _ = trained
    for path in (trainer.last_file, trainer.saved_model_file):
        checkpoint = torch.load(path, weights_only=True)
        assert REQUIRED <= set(checkpoint)
        assert checkpoint["format"] == CHECKPOINT_FORMAT
        assert checkpoint["domains"] == ["Fruit", "Tools"]
        assert checkpoint["epoch"] == 0 and checkpoint["resume_epoch"] == 1 and checkpoint["resume_batch"] == 0
        assert checkpoint["config"]["train_stage"] == "pretrain" and isinstance(checkpoint["config"], dict)
        assert checkpoint["text_encoder"] == {"model": "default", "pooling": "mean", "dim": 384}
        assert checkpoint["epoch_losses"] == losses
        assert "text_vectors" not in checkpoint["state_dict"]  # they belong to the data, not the model
        for name, value in trainer.model.state_dict().items():
            assert torch.equal(checkpoint["state_dict"][name], value)
    assert trainer.saved_model_file.endswith("UniSRec-FT-1.pth")


def test_pretrained_weights_transfer_to_a_finetuning_model(trained, corpus_root) -> None:
    trainer, _, _ = trained
    config = Config(model="UniSRec", dataset="Fruit", config_dict={
        "data_path": str(corpus_root), "hidden_size": 32, "inner_size": 32, "n_layers": 1, "n_exps": 4,
        "MAX_ITEM_LIST_LENGTH": 8, "train_stage": "transductive_ft"})
    from recbole_unisrec.registry import create_dataset, get_model

    dataset = create_dataset(config)
    model = get_model("UniSRec")(config, dataset)
    report = load_pretrained(model, trainer.saved_model_file, text_encoder="default")
    assert report["new"] == ["item_embedding.weight"]
    assert torch.equal(model.moe_adaptor.w_gate, trainer.model.moe_adaptor.w_gate)


def test_fine_tuning_refuses_other_text_vectors(trained) -> None:
    """An adaptor trained on mean-pooled MiniLM vectors must not be loaded over CLS vectors."""
    trainer, _, _ = trained
    model = torch.nn.Linear(1, 1)
    with pytest.raises(CheckpointError, match=r"made with text_pooling 'mean', but this run uses 'cls'; set --text_pooling=mean"):
        load_pretrained(model, trainer.saved_model_file, text_encoder="default", text_pooling="cls")
    with pytest.raises(CheckpointError, match=r"made with text_encoder 'default', but this run uses 'bert-base-uncased'"):
        load_pretrained(model, trainer.saved_model_file, text_encoder="bert-base-uncased", text_pooling="mean")


def test_a_slim_copy_fine_tunes_like_the_full_checkpoint_and_refuses_to_resume(trained, corpus_root, tmp_path) -> None:
    trainer, _, _ = trained
    slim = tmp_path / "slim.pth"
    summary = write_slim_checkpoint(trainer.saved_model_file, slim)
    assert summary["dropped"] == ["optimizer", "rng", "partial", "resume_epoch", "resume_batch", "cur_step", "world_size"]
    assert summary["bytes_after"] < summary["bytes_before"] / 2  # Adam's two moments were two thirds of the file
    full, copy = load_checkpoint(trainer.saved_model_file), torch.load(slim, weights_only=True)
    assert not set(RESUME_STATE) & set(copy)
    assert copy["slimmed_from"]["file"] == "UniSRec-FT-1.pth"
    assert copy["domains"] == full["domains"] and copy["text_encoder"] == full["text_encoder"]
    assert copy["state_dict"].keys() == full["state_dict"].keys()
    assert all(torch.equal(copy["state_dict"][name], value) for name, value in full["state_dict"].items())

    config = Config(model="UniSRec", dataset="Fruit", config_dict={
        "data_path": str(corpus_root), "hidden_size": 32, "inner_size": 32, "n_layers": 1, "n_exps": 4,
        "MAX_ITEM_LIST_LENGTH": 8, "train_stage": "inductive_ft"})
    from recbole_unisrec.registry import create_dataset, get_model

    dataset = create_dataset(config)
    from_full, from_slim = get_model("UniSRec")(config, dataset), get_model("UniSRec")(config, dataset)
    assert load_pretrained(from_full, trainer.saved_model_file) == load_pretrained(from_slim, slim)
    for (name, a), (_, b) in zip(from_full.state_dict().items(), from_slim.state_dict().items()):
        assert torch.equal(a, b), name

    with pytest.raises(CheckpointError, match=r"slim.pth: a slim copy .* resume from the full checkpoint it was made from, UniSRec-FT-1.pth"):
        trainer.resume_checkpoint(slim)
    with pytest.raises(CheckpointError, match="holds no optimizer or resume state, nothing to drop"):
        write_slim_checkpoint(slim, tmp_path / "again.pth")
    assert not (tmp_path / "again.pth").exists()


def test_generator_states_round_trip(trained) -> None:
    trainer, _, _ = trained
    states = trainer._rng_states()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    trainer._restore_rng(states)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_resume_refuses_broken_or_foreign_files(trained, tmp_path) -> None:
    trainer, _, _ = trained
    data = open(trainer.last_file, "rb").read()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}, "config": {}}, foreign)
    other_domains = tmp_path / "other.pth"
    checkpoint = load_checkpoint(trainer.last_file)
    checkpoint["domains"] = ["Beauty", "Toys"]
    torch.save(checkpoint, other_domains)
    for path, message in ((truncated, "truncated or corrupt"), (garbage, "garbage.pth: "), (foreign, "not a pre-training checkpoint"),
                          (other_domains, "pre-trained on Beauty, Toys"), (tmp_path / "missing.pth", "not found")):
        with pytest.raises(CheckpointError, match=message) as error:
            trainer.resume_checkpoint(path)
        assert "\n" not in str(error.value)


def test_mid_epoch_checkpoint_records_the_position(corpus_root, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config, dataset, loader, model = build(corpus_root, checkpoint_dir=str(tmp_path / "saved"), pretrain_epochs=1,
                                           checkpoint_steps=2)
    trainer = UniSRecPretrainTrainer(config, model, domains=dataset.domain_names)
    positions = []
    original = trainer.checkpoint_state

    def spy(resume_epoch, resume_batch, partial):
        positions.append((resume_epoch, resume_batch, None if partial is None else partial["steps"]))
        return original(resume_epoch, resume_batch, partial)

    monkeypatch.setattr(trainer, "checkpoint_state", spy)
    trainer.pretrain(loader)
    n = len(loader.global_batches(0))
    expected = [(0, b, b) for b in range(2, n, 2)] + [(1, 0, None), (1, 0, None)]
    assert positions == expected


def test_zero_epochs_save_the_untrained_network(corpus_root, tmp_path, monkeypatch) -> None:
    """``--pretrain_epochs=0``: UniSRec-<corpus>-0.pth holds the initialisation (the control a
    pre-trained checkpoint is compared with), and fine-tuning loads it like any other."""
    monkeypatch.chdir(tmp_path)
    config, dataset, loader, model = build(corpus_root, checkpoint_dir=str(tmp_path / "saved"), pretrain_epochs=0)
    initial = {name: value.clone() for name, value in model.state_dict().items()}
    trainer = UniSRecPretrainTrainer(config, model, domains=dataset.domain_names)
    assert trainer.pretrain(loader) == []
    assert trainer.saved_model_file == str(tmp_path / "saved" / "UniSRec-FT-0.pth")
    checkpoint = load_checkpoint(trainer.saved_model_file)
    assert checkpoint["resume_epoch"] == 0 and checkpoint["cur_step"] == 0
    assert set(checkpoint["state_dict"]) == set(initial)
    assert all(torch.equal(checkpoint["state_dict"][name], value) for name, value in initial.items())
