"""FDSAText and S3RecText: they train and evaluate, and their feature side really reads the text vectors."""
from __future__ import annotations

import pytest
import torch

from baseline_fixtures import assert_metrics_of_checkpoint, build
from recbole_unisrec.baselines import run_baseline
from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.model.text_baselines import FDSAText, S3RecText, UserSequenceDataLoader
from recbole_unisrec.registry import TEXT_MODELS, get_model

METRICS = {"recall@10", "recall@50", "ndcg@10", "ndcg@50"}


def test_registered_by_name_as_text_models() -> None:
    assert get_model("FDSAText") is FDSAText and get_model("S3RecText") is S3RecText
    assert {"FDSAText", "S3RecText"} <= TEXT_MODELS


def test_fdsa_text_trains_and_evaluates(tiny_config) -> None:
    settings = {**tiny_config, "metric_decimal_place": 10}
    result = run_baseline("FDSAText", "Tiny", config_dict=settings)
    assert set(result["test_result"]) == METRICS and 0 < result["test_result"]["recall@50"] <= 1
    assert load_checkpoint(result["checkpoint"])["config"]["model"] == "FDSAText"
    # the reported metrics are the saved checkpoint's, recomputed by brute force
    assert_metrics_of_checkpoint(result, settings)
    # every weight of the model trains (the text vectors are the data set's, no parameter)
    _, _, _, fresh = build("FDSAText", settings)
    assert result["trainable_parameters"] == sum(p.numel() for p in fresh.parameters()) > 0


def test_fdsa_text_feature_side_is_the_text_vectors(tiny_config) -> None:
    _, train, _, model = build("FDSAText", tiny_config)
    dataset = train._dataset
    assert model.text_adapter.in_features == dataset.plm_size and model.text_adapter.out_features == 16
    assert torch.equal(model.text_vectors, dataset.plm_embedding.weight)
    # no categorical feature tables: the only item-indexed table is the ID embedding
    tables = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Embedding)]
    assert sorted(tables) == ["item_embedding", "position_embedding"]
    assert "text_vectors" not in model.state_dict()  # the data set's, not the checkpoint's
    # the sequence output moves when (only) the text vector of a history item changes
    model.eval()
    item_seq = torch.tensor([[3, 4, 5, 0]])
    before = model.forward(item_seq, torch.tensor([3]))
    model.text_vectors[4] += 1.0
    after = model.forward(item_seq, torch.tensor([3]))
    assert not torch.allclose(before, after)


def test_s3rec_text_runs_both_stages(tiny_config) -> None:
    result = run_baseline("S3RecText", "Tiny", config_dict={**tiny_config, "pretrain_epochs": 2, "save_step": 1,
                                                            "metric_decimal_place": 10})
    assert result["train_stage"] == "pretrain+finetune"
    assert set(result["test_result"]) == METRICS
    # the reported metrics are the fine-tuned checkpoint's, recomputed by brute force
    assert_metrics_of_checkpoint(result, {**tiny_config, "train_stage": "finetune",
                                          "pre_model_path": result["pretrained_checkpoint"]})
    assert result["train_seconds"] >= result["pretrain_seconds"] > 0
    pretrained = load_checkpoint(result["pretrained_checkpoint"])  # weights_only
    assert pretrained["config"]["train_stage"] == "pretrain" and pretrained["epoch"] == 1
    assert load_checkpoint(result["checkpoint"])["config"]["pre_model_path"] == result["pretrained_checkpoint"]


def test_s3rec_text_attributes_are_the_text_vectors(tiny_config) -> None:
    config, train, _, model = build("S3RecText", {**tiny_config, "train_stage": "pretrain"})
    dataset = train._dataset
    assert model.feature_adapter.in_features == dataset.plm_size
    assert torch.equal(model.text_vectors, dataset.plm_embedding.weight[1:])  # attribute a = item a + 1
    assert model.n_features == dataset.item_num - 1 and model.mask_token == dataset.item_num
    loader = UserSequenceDataLoader(config, dataset)
    loss = model.calculate_loss(next(iter(loader)))
    loss.backward()
    assert torch.isfinite(loss) and model.feature_adapter.weight.grad.abs().sum() > 0
    assert model.item_embedding.weight.grad.abs().sum() > 0


def test_s3rec_text_finetune_freezes_pretraining_heads(tiny_config, tmp_path) -> None:
    config, train, _, model = build("S3RecText", {**tiny_config, "train_stage": "pretrain"})
    path = tmp_path / "s3.pth"
    torch.save({"state_dict": model.state_dict(), "config": {"model": "S3RecText"}}, path)
    _, _, _, tuned = build("S3RecText", {**tiny_config, "train_stage": "finetune", "pre_model_path": str(path)})
    assert all(torch.equal(tuned.state_dict()[k], v) for k, v in model.state_dict().items())
    frozen = {name for name, p in tuned.named_parameters() if not p.requires_grad}
    assert frozen == {name for name, _ in tuned.named_parameters() if name.startswith(S3RecText.PRETRAIN_ONLY)}
    assert any(name.startswith("feature_adapter.") for name in frozen)


def test_s3rec_text_bad_finetune_input(tiny_config, tmp_path) -> None:
    with pytest.raises(ValueError, match="needs pre_model_path"):
        build("S3RecText", {**tiny_config, "train_stage": "finetune"})
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        build("S3RecText", {**tiny_config, "train_stage": "finetune", "pre_model_path": str(junk)})
    with pytest.raises(ValueError, match="train_stage must be pretrain or finetune"):
        build("S3RecText", {**tiny_config, "train_stage": "inductive_ft"})


def test_one_hot_bce_equals_bce_with_logits() -> None:
    logits, target = torch.randn(5, 7), torch.tensor([0, 3, 6, 2, 2])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nn.functional.one_hot(target, 7).float(), reduction="sum")
    assert torch.allclose(S3RecText._one_hot_bce(logits, target), expected)


def test_user_sequence_loader_has_each_users_training_sequence(tiny_config, tiny_root) -> None:
    """One row per user: all of the user's items but the validation and test targets."""
    config, train, _, _ = build("S3RecText", {**tiny_config, "train_stage": "pretrain"})
    dataset = train._dataset
    loader = UserSequenceDataLoader(config, dataset, shuffle=False)
    rows = [row for batch in loader for row in zip(batch["item_id_list"].tolist(), batch["item_length"].tolist())]
    assert len(rows) == loader.sample_size == len(set(dataset.inter_feat["user_id"].tolist()))
    tokens = dataset.field2id_token["item_id"]
    loaded = sorted(tuple(tokens[i] for i in items[:length]) for items, length in rows)
    test_rows = (tiny_root / "Tiny" / "Tiny.test.inter").read_text().splitlines()[1:]
    truth = sorted(tuple(line.split("\t")[1].split()[:-1]) for line in test_rows)  # test history minus valid target
    assert loaded == truth


def test_importing_recbole_sequential_models_leaves_anomaly_detection_off() -> None:
    """RecBole's sine.py turns on autograd anomaly detection when the package is imported
    (about 2x slower UniSRec epochs measured); importing this plugin's models turns it back off."""
    import recbole_unisrec.model  # noqa: F401
    from recbole.model.sequential_recommender import sine  # noqa: F401

    get_model("SASRec")
    assert not torch.is_anomaly_enabled()
