"""A fine-tuning or baseline run stopped after a validation continues to the same result as one
never stopped: same epochs, losses, best epoch, test metrics and best weights."""
from __future__ import annotations

import os

import pytest
import torch

import run_finetune
from recbole_unisrec import resume as resume_module
from recbole_unisrec.checkpoint import load_checkpoint
from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.runner import run

COLOURS = ["red", "green", "blue", "yellow", "black", "white"]
THINGS = ["apple", "hammer", "novel", "shoe", "lamp", "kettle"]


class Stopped(Exception):
    """Stands for a kill: the process ends right after a resume state was written."""


@pytest.fixture
def tiny(tmp_path):
    sequences = [(f"u{u}", [f"c{u % 6}i{(u // 6 + step) % 6}" for step in range(7 - u % 3)]) for u in range(36)]
    texts = {f"c{c}i{i}": f"{colour} {thing}" for c, colour in enumerate(COLOURS) for i, thing in enumerate(THINGS)}
    write_dataset(SequenceData("Tiny", sequences, texts), tmp_path / "data")
    return tmp_path


def settings(root, **more):
    return {"data_path": str(root / "data"), "checkpoint_dir": str(root / "saved"), "epochs": 6, "stopping_step": 2,
            "hidden_size": 16, "inner_size": 16, "n_layers": 1, "n_heads": 2, "train_batch_size": 32,
            "eval_batch_size": 256, "hidden_dropout_prob": 0.3, "attn_dropout_prob": 0.3, "show_progress": False,
            "state": "WARNING", "seed": 3, "use_gpu": False, "topk": [5, 10], **more}


def stop_after(monkeypatch, epoch: int) -> None:
    written = resume_module.ResumeWriter.__call__

    def write_then_stop(self, epoch_idx, valid_score):
        written(self, epoch_idx, valid_score)
        if epoch_idx == epoch:
            raise Stopped

    monkeypatch.setattr(resume_module.ResumeWriter, "__call__", write_then_stop)


def best_weights(result):
    return load_checkpoint(result["checkpoint"])["state_dict"]


def same_run(first, second) -> None:
    for key in ("test_result", "best_valid_result", "best_valid_score", "epochs", "best_epoch", "curve"):
        assert first[key] == second[key], key
    ours, theirs = best_weights(first), best_weights(second)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


@pytest.mark.parametrize("model, more", [
    ("SASRec", {}),  # RecBole's own loader: shuffled by its torch.Generator
    ("UniSRec", {"train_stage": "transductive_ft", "packed_training": True}),  # batches planned from (seed, epoch)
])
def test_stopped_run_resumes_to_the_uninterrupted_result(tiny, monkeypatch, model, more) -> None:
    whole = run(model, "Tiny", config_dict=settings(tiny, **more), checkpoint_name="whole.pth")
    assert whole["epochs"] >= 4  # the stop below is mid-training, before early stopping
    assert not os.path.exists(tiny / "saved" / "whole-resume.pth")  # removed once tested

    with monkeypatch.context() as patch:
        stop_after(patch, epoch=1)
        with pytest.raises(Stopped):
            run(model, "Tiny", config_dict=settings(tiny, **more), checkpoint_name="stopped.pth")
    state = load_checkpoint(tiny / "saved" / "stopped-resume.pth")
    assert state["epoch"] == 1 and not state["finished"] and [epoch for epoch, _ in state["train_loss"]] == [0, 1]
    assert [epoch for epoch, _ in state["valid_curve"]] == [0, 1]

    resumed = run(model, "Tiny", config_dict=settings(tiny, **more), checkpoint_name="stopped.pth", resume=True)
    same_run(whole, resumed)
    assert resumed["train_seconds"] > state["train_seconds"]
    assert not os.path.exists(tiny / "saved" / "stopped-resume.pth")


def test_run_stopped_after_its_last_validation_is_tested_without_training(tiny, monkeypatch) -> None:
    # AveragePopularity needs the training set's item counts, which RecBole collects in `fit`:
    # the resumed run, which skips `fit`, must collect them too.
    config = settings(tiny, metrics=["Recall", "NDCG", "ItemCoverage", "AveragePopularity"])
    whole = run("SASRec", "Tiny", config_dict=config, checkpoint_name="whole.pth")
    assert {"itemcoverage@10", "averagepopularity@10"} <= whole["test_result"].keys()
    with monkeypatch.context() as patch:
        stop_after(patch, epoch=whole["epochs"] - 1)
        with pytest.raises(Stopped):
            run("SASRec", "Tiny", config_dict=config, checkpoint_name="stopped.pth")
    assert load_checkpoint(tiny / "saved" / "stopped-resume.pth")["finished"]
    calls = []
    monkeypatch.setattr(resume_module.ResumeWriter, "__call__", lambda self, *args: calls.append(args))
    resumed = run("SASRec", "Tiny", config_dict=config, checkpoint_name="stopped.pth", resume=True)
    assert calls == []  # no epoch trained again
    same_run(whole, resumed)


def test_resume_with_other_settings_is_refused_and_a_fresh_run_discards_the_state(tiny, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        stop_after(patch, epoch=0)
        with pytest.raises(Stopped):
            run("SASRec", "Tiny", config_dict=settings(tiny), checkpoint_name="run.pth")
    state_file = tiny / "saved" / "run-resume.pth"
    with pytest.raises(ValueError, match=r"run-resume\.pth: made by a run with learning_rate=0\.001, this run has 0\.01"):
        run("SASRec", "Tiny", config_dict=settings(tiny, learning_rate=0.01), checkpoint_name="run.pth", resume=True)
    # where the data and checkpoints live, and how the run reports, may change
    moved = settings(tiny, show_progress=True, state="INFO")
    with monkeypatch.context() as patch:
        stop_after(patch, epoch=1)
        with pytest.raises(Stopped):
            run("SASRec", "Tiny", config_dict=moved, checkpoint_name="run.pth", resume=True)
    assert load_checkpoint(state_file)["epoch"] == 1  # continued from epoch 0's state
    with monkeypatch.context() as patch:  # without resume the old state is dropped: epoch 0 again
        stop_after(patch, epoch=0)
        with pytest.raises(Stopped):
            run("SASRec", "Tiny", config_dict=settings(tiny), checkpoint_name="run.pth")
    assert load_checkpoint(state_file)["epoch"] == 0


def test_run_finetune_resume_takes_the_runs_own_settings(tiny, monkeypatch, capsys) -> None:
    argv = ["-d", "Tiny", *(f"--{key}={value}" for key, value in settings(tiny, epochs=3).items())]
    with monkeypatch.context() as patch:
        stop_after(patch, epoch=0)
        with pytest.raises(Stopped):
            run_finetune.main(argv)
    [state_file] = (tiny / "saved").glob("*-resume.pth")
    with pytest.raises(ValueError, match="continues a run with its own -d; leave them out"):
        run_finetune.main(["--resume", str(state_file), "-d", "Tiny"])
    resumed = run_finetune.main(["--resume", str(state_file), "--state=ERROR"])
    assert resumed["dataset"] == "Tiny" and resumed["epochs"] == 3 and resumed["model"] == "UniSRec"
    assert resumed["checkpoint"] == str(state_file).replace("-resume.pth", ".pth")
    assert not state_file.exists()
