"""Imported original checkpoints compute what the original architecture computes, and are written
once in this project's safe format."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from original_fixtures import FINETUNED, ITEM_TOKENS, PRETRAINED, SCIENTIFIC
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.layers import TransformerEncoder

from recbole_unisrec.__main__ import main
from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint, load_pretrained
from recbole_unisrec.model.layers import transformer_settings
from recbole_unisrec.original.checkpoint import import_original_checkpoint, map_original_weights
from recbole_unisrec.original.unpickler import read_original
from recbole_unisrec.serving import build_model

LAYER_MODULES = ("qkv", "attn_out", "attn_norm", "ffn_in", "ffn_out", "ffn_norm")


def expected_parameters(n_layers: int, n_exps: int, transductive: bool) -> set[str]:
    names = {"position_embedding.weight", "LayerNorm.weight", "LayerNorm.bias", "moe_adaptor.w_gate", "moe_adaptor.w_noise"}
    names |= {f"trm_encoder.layers.{i}.{module}.{kind}" for i in range(n_layers) for module in LAYER_MODULES
              for kind in ("weight", "bias")}
    names |= {f"moe_adaptor.experts.{k}.{param}" for k in range(n_exps) for param in ("bias", "lin.weight")}
    return names | ({"item_embedding.weight"} if transductive else set())


def reference_adaptor(raw: dict, vectors: torch.Tensor, n_exps: int) -> torch.Tensor:
    """The original MoE adaptor in eval mode: sum_k softmax(x G)_k W_k (x - b_k)."""
    gates = F.softmax(vectors @ raw["moe_adaptor.w_gate"], dim=-1)
    experts = torch.stack([(vectors - raw[f"moe_adaptor.experts.{k}.bias"]) @ raw[f"moe_adaptor.experts.{k}.lin.weight"].T
                           for k in range(n_exps)], dim=-2)
    return (gates.unsqueeze(-1) * experts).sum(dim=-2)


def reference_outputs(raw: dict, config: dict, text_table: torch.Tensor, item_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The original UniSRec's per-position outputs and item table: RecBole's own TransformerEncoder
    loaded with the checkpoint's weights, its attention mask, and the original forward's sums."""
    encoder = TransformerEncoder(**transformer_settings(config)).eval()
    encoder.load_state_dict({name[len("trm_encoder."):]: value for name, value in raw.items() if name.startswith("trm_encoder.")})
    items = reference_adaptor(raw, text_table, config["n_exps"])
    hidden = items[item_seq] + raw["position_embedding.weight"][: item_seq.size(1)]
    if "item_embedding.weight" in raw:
        hidden = hidden + raw["item_embedding.weight"][item_seq]
        items = items + raw["item_embedding.weight"]
    hidden = F.layer_norm(hidden, hidden.shape[-1:], raw["LayerNorm.weight"], raw["LayerNorm.bias"], config["layer_norm_eps"])
    mask = SequentialRecommender.get_attention_mask(None, item_seq)
    with torch.no_grad():
        return encoder(hidden, mask, output_all_encoded_layers=True)[-1], items


def left_aligned(histories: list[list[int]], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    seq = torch.zeros(len(histories), length, dtype=torch.long)
    for row, history in enumerate(histories):
        seq[row, : len(history)] = torch.tensor(history)
    return seq, torch.tensor([len(history) for history in histories])


def test_pretrained_outputs_equal_the_original_architecture(official) -> None:
    raw = read_original(official / PRETRAINED)["state_dict"]
    imported = import_original_checkpoint(official / PRETRAINED)
    generator = torch.Generator().manual_seed(0)
    text_table = torch.randn(60, imported["text_encoder"]["dim"], generator=generator)
    text_table[0] = 0  # the padding item
    lengths = [1, 2, 7, 23, 50, 50, 31]
    histories = [torch.randint(1, 60, (n,), generator=generator).tolist() for n in lengths]
    assert_same_as_original(raw, imported, text_table, histories)


def test_finetuned_transductive_outputs_equal_the_original_architecture(official) -> None:
    """Real histories of the fixture's Scientific, as the original model saw them (its internal ids)."""
    content = read_original(official / FINETUNED)
    imported = import_original_checkpoint(official / FINETUNED)
    internal = {token: k for k, token in enumerate(json.loads((official / ITEM_TOKENS).read_text())["item_id"])}
    test_rows = (official / SCIENTIFIC / "Scientific.test.inter").read_text().splitlines()[1:65]
    histories = [[internal[token] for token in row.split("\t")[1].split()] for row in test_rows]
    assert_same_as_original(content["state_dict"], imported, content["state_dict"]["plm_embedding.weight"], histories)


def assert_same_as_original(raw: dict, imported: dict, text_table: torch.Tensor, histories: list[list[int]]) -> None:
    config = imported["config"]
    item_seq, lengths = left_aligned(histories, max(map(len, histories)))
    expected, expected_items = reference_outputs(raw, config, text_table, item_seq)
    model = build_model(imported["state_dict"], config)
    model.text_vectors = text_table
    with torch.no_grad():
        table = model.item_table()
        outputs = model.encode_positions(table[item_seq])
        last = model.forward(table[item_seq], lengths)
        scores = model.item_scores(last, table)
    real = torch.arange(item_seq.size(1)).unsqueeze(0) < lengths.unsqueeze(1)  # padded positions are never read
    torch.testing.assert_close(table, expected_items, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs[real], expected[real], atol=1e-5, rtol=1e-5)
    expected_last = expected[torch.arange(len(histories)), lengths - 1]
    torch.testing.assert_close(last, expected_last, atol=1e-5, rtol=1e-5)
    expected_scores = F.normalize(expected_last, dim=-1) @ F.normalize(expected_items, dim=-1).T / config["temperature"]
    torch.testing.assert_close(scores[:, 1:], expected_scores[:, 1:], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name, transductive", [(PRETRAINED, False), (FINETUNED, True)])
def test_import_checkpoint_writes_a_safe_checkpoint_with_exactly_the_expected_keys(official, tmp_path, capsys,
                                                                                    name, transductive) -> None:
    out = tmp_path / "imported.pth"
    assert main(["import-checkpoint", str(official / name), str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == len(expected_parameters(2, 8, transductive))
    checkpoint = torch.load(out, weights_only=True)
    assert set(checkpoint) == {"state_dict", "config", "domains", "text_encoder", "imported_from"}
    assert set(checkpoint["state_dict"]) == expected_parameters(2, 8, transductive)
    raw = read_original(official / name)["state_dict"]
    qkv = checkpoint["state_dict"]["trm_encoder.layers.1.qkv.weight"]
    assert torch.equal(qkv, torch.cat([raw[f"trm_encoder.layer.1.multi_head_attention.{part}.weight"]
                                       for part in ("query", "key", "value")]))
    config = checkpoint["config"]
    json.dumps(config)  # plain values only
    assert (config["MODEL_TYPE"], config["device"], config["model"]) == ("SEQUENTIAL", "cpu", "UniSRec")
    assert checkpoint["text_encoder"] == {"model": "imported:feat1CLS", "pooling": None, "dim": 384, "imported": True}
    assert checkpoint["imported_from"]["train_stage"] == ("transductive_ft" if transductive else "pretrain")
    assert load_checkpoint(out)["state_dict"].keys() == checkpoint["state_dict"].keys()  # and it is not re-imported


def test_fine_tuning_loads_it_unless_the_text_vectors_differ_in_size(official, caplog) -> None:
    imported = import_original_checkpoint(official / PRETRAINED)
    model = build_model(imported["state_dict"], imported["config"])
    with caplog.at_level("INFO"):
        report = load_pretrained(model, official / PRETRAINED, text_encoder="default", text_pooling="mean")
    assert "imported from the original UniSRec code" in caplog.text
    assert not report["new"] and len(report["loaded"]) == len(imported["state_dict"])

    wider = dict(imported["state_dict"])
    wider.update({name: torch.zeros(768, *value.shape[1:]) if name.endswith(("bias", "w_gate", "w_noise"))
                  else torch.zeros(value.shape[0], 768) for name, value in wider.items() if name.startswith("moe_adaptor.")})
    bert_sized = build_model(wider, {**imported["config"], "adaptor_layers": [768, 300]})
    with pytest.raises(CheckpointError, match=r"parameter moe_adaptor\.w_gate has shape \(384, 8\) in the checkpoint but "
                                              r"\(768, 8\) in this model \(it was imported from the original UniSRec code: use its text "
                                              r"vectors, .*convert unisrec-files, then --text_encoder=imported:feat1CLS\)"):
        load_pretrained(bert_sized, official / PRETRAINED)


def test_unknown_or_missing_parameters_are_one_line_errors(official) -> None:
    raw = dict(read_original(official / PRETRAINED)["state_dict"])
    with pytest.raises(CheckpointError, match="ckpt: parameter trm_encoder.layer.0.extra.weight has no counterpart"):
        map_original_weights({**raw, "trm_encoder.layer.0.extra.weight": torch.zeros(1)}, "ckpt")
    del raw["trm_encoder.layer.1.multi_head_attention.value.bias"]
    with pytest.raises(CheckpointError, match="ckpt: trm_encoder.layer.1.multi_head_attention.value.bias is missing"):
        map_original_weights(raw, "ckpt")
