"""UniSRec's three settings on a tiny real-text fixture: what trains, what is frozen, what transfers."""
from __future__ import annotations

import math

import pytest
import torch
from recbole.trainer import Trainer

from recbole_unisrec.checkpoint import CheckpointError, freeze_for_finetuning, load_checkpoint, load_pretrained
from recbole_unisrec.config import Config
from recbole_unisrec.quick_start import run
from recbole_unisrec.registry import create_dataset

from model_fixtures import TINY_CONFIG, brute_force_metrics, build, chain_sequences, chain_texts, write_fixture


@pytest.mark.parametrize("stage", ["inductive_ft", "transductive_ft"])
def test_each_stage_trains_and_evaluates(tiny_root, tmp_path, stage) -> None:
    """The reported test metrics are those of the saved checkpoint, recomputed by brute force."""
    result = run("UniSRec", "Tiny", config_dict={
        **TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path), "train_stage": stage, "epochs": 2,
        "metric_decimal_place": 10})
    assert set(result["test_result"]) == {"recall@5", "recall@10", "ndcg@5", "ndcg@10"}
    assert result["train_stage"] == stage
    checkpoint = torch.load(result["checkpoint"], weights_only=True)
    assert checkpoint["config"]["train_stage"] == stage
    *_, test, model = build(tiny_root, train_stage=stage)
    model.load_state_dict(checkpoint["state_dict"])
    expected = brute_force_metrics(model, test, ks=(5, 10))
    for key, value in expected.items():
        assert math.isclose(result["test_result"][key], value, rel_tol=1e-6, abs_tol=1e-9), (key, result["test_result"])
    # neither trivially right nor wrong: the 20 items are ranked, the chain's next item is not always first
    assert 0 < expected["ndcg@5"] < 1


def test_inductive_model_has_no_id_embedding(tiny_root) -> None:
    *_, model = build(tiny_root, train_stage="inductive_ft")
    assert not any("item_embedding" in name for name, _ in model.named_parameters())
    assert not any(isinstance(module, torch.nn.Embedding) and module.num_embeddings == model.n_items
                   for module in model.modules())
    *_, transductive = build(tiny_root, train_stage="transductive_ft")
    assert transductive.item_embedding.weight.shape == (transductive.n_items, 32)


def test_model_shares_the_data_sets_text_vectors_instead_of_copying_them(tiny_root) -> None:
    _, _, train, *_, model = build(tiny_root, train_stage="inductive_ft")
    table = train._dataset.plm_embedding.weight
    assert model.text_vectors.data_ptr() == table.data_ptr()
    assert model.text_vectors.shape == table.shape == (model.n_items, 384)
    assert not model.text_vectors.requires_grad
    assert "text_vectors" not in model.state_dict()


def test_frozen_parameters_stay_bit_equal(tiny_root) -> None:
    config, _, train, *_, model = build(tiny_root, train_stage="transductive_ft")
    freeze_for_finetuning(model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = Trainer(config, model)
    trainer._train_epoch(train, 0)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {name for name in before if name.startswith(("moe_adaptor.", "item_embedding.", "LayerNorm."))}
    assert changed == trainable
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters() if name.startswith(("trm_encoder.", "position_embedding.")))


def test_unseen_item_with_targets_text_scores_as_the_target(tmp_path) -> None:
    """Item 'new' never occurs in training (only as one user's test target) and has the text of
    chain 0's third item: for histories that lead to that item it gets the same, top score."""
    sequences = chain_sequences()
    sequences.append(("u-new", ["c1i0", "c1i1", "c1i2", "new"]))
    texts = {**chain_texts(), "new": chain_texts()["c0i2"]}
    root = write_fixture(tmp_path, sequences=sequences, texts=texts)
    result = run("UniSRec", "Tiny", config_dict={**TINY_CONFIG, "data_path": str(root), "checkpoint_dir": str(tmp_path),
                                                 "epochs": 30, "learning_rate": 0.01})
    config, dataset, train, valid, test, model = build(root)
    model.load_state_dict(load_checkpoint(result["checkpoint"])["state_dict"])
    model.eval()
    token_to_id = {token: i for i, token in enumerate(dataset.field2id_token["item_id"])}
    index = {raw: str(i) for i, raw in enumerate(line.split("\t")[0] for line in (root / "Tiny" / "Tiny.item2index").read_text().splitlines())}
    history = [token_to_id[index[raw]] for raw in ["c0i0", "c0i1"]]
    from recbole.data.interaction import Interaction
    batch = Interaction({"item_id_list": torch.tensor([history]), "item_length": torch.tensor([2])})
    scores = model.full_sort_predict(batch)[0]
    scores[0] = -float("inf")
    target, new = token_to_id[index["c0i2"]], token_to_id[index["new"]]
    top2 = set(torch.topk(scores, 2).indices.tolist())
    assert top2 == {target, new}
    assert torch.allclose(scores[new], scores[target])


def test_checkpoint_loads_into_a_data_set_of_another_size(tiny_root, tmp_path) -> None:
    result = run("UniSRec", "Tiny", config_dict={**TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path),
                                                 "train_stage": "transductive_ft"})
    two_chains = [(user, items) for user, items in chain_sequences() if items[0].startswith(("c0", "c1"))]
    other_root = write_fixture(tmp_path / "other", name="Other", sequences=two_chains)
    *_, target = build(other_root, name="Other", train_stage="transductive_ft")
    source = load_checkpoint(result["checkpoint"])["state_dict"]
    assert source["item_embedding.weight"].shape[0] != target.item_embedding.weight.shape[0]
    id_before = target.item_embedding.weight.detach().clone()
    report = load_pretrained(target, result["checkpoint"])
    assert set(report["skipped"]) == {"item_embedding.weight"}
    assert set(report["new"]) == {"item_embedding.weight"}
    for name, value in target.state_dict().items():
        if name != "item_embedding.weight":
            assert torch.equal(value, source[name]), name
    assert torch.equal(target.item_embedding.weight, id_before)


def test_checkpoint_with_other_shapes_names_the_parameter(tiny_root, tmp_path) -> None:
    result = run("UniSRec", "Tiny", config_dict={**TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path)})
    *_, wider = build(tiny_root, n_exps=4)
    with pytest.raises(CheckpointError, match=r"moe_adaptor\.w_gate.*\(384, 8\).*\(384, 4\)"):
        load_pretrained(wider, result["checkpoint"])


def test_checkpoint_without_the_transformer_is_refused(tiny_root, tmp_path) -> None:
    """Fine-tuning would freeze a random Transformer: refused before anything is loaded."""
    result = run("UniSRec", "Tiny", config_dict={**TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path)})
    checkpoint = load_checkpoint(result["checkpoint"])
    kept = {name: value for name, value in checkpoint["state_dict"].items() if name.startswith("moe_adaptor.")}
    adaptor_only = tmp_path / "adaptor-only.pth"
    torch.save({**checkpoint, "state_dict": kept}, adaptor_only)
    *_, model = build(tiny_root)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    encoder = [name for name in before if not name.startswith("moe_adaptor.")]
    with pytest.raises(CheckpointError, match=rf"adaptor-only.pth: no weights for position_embedding.weight and "
                                              rf"{len(encoder) - 1} more \(the sequence encoder"):
        load_pretrained(model, adaptor_only)
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())
    assert load_pretrained(model, result["checkpoint"])["new"] == []


def test_bad_inputs_are_one_line_errors(tiny_root, tmp_path) -> None:
    with pytest.raises(ValueError, match="train_stage must be one of"):
        build(tiny_root, train_stage="finetune")
    with pytest.raises(FileNotFoundError, match="data set 'Nope' has no Nope.train.inter"):
        create_dataset(Config("UniSRec", "Nope", config_dict={"data_path": str(tiny_root)}))
    not_a_checkpoint = tmp_path / "junk.pth"
    not_a_checkpoint.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable checkpoint"):
        load_checkpoint(not_a_checkpoint)
    with pytest.raises(ValueError, match=r"adaptor_layers \[100, 32\] does not fit.*384-d"):
        build(tiny_root, adaptor_layers=[100, 32])


def test_padding_item_is_never_a_candidate_and_gets_no_gradient(tiny_root) -> None:
    """From scratch the padding row of the inductive item table is exactly zero; in the softmax,
    its normalisation sent a ~1e12 gradient into the adaptor's biases (NaN under float16)."""
    *_, train, _, test, model = build(tiny_root, train_stage="inductive_ft")
    assert torch.count_nonzero(model.item_table()[0]) == 0
    model.calculate_loss(next(iter(train))).backward()
    biases = torch.stack([expert.bias.grad for expert in model.moe_adaptor.experts])
    assert torch.isfinite(biases).all() and biases.abs().max() < 10
    scores = model.full_sort_predict(next(iter(test))[0])
    assert torch.isneginf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()
