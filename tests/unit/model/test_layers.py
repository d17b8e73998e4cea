"""The causal Transformer's last-position pass (``forward_at``) against its full pass."""
from __future__ import annotations

import pytest
import torch

from recbole_unisrec.model.layers import CausalTransformer

from model_fixtures import build

LAYER_ARGS = {"hidden_size": 32, "n_heads": 4, "inner_size": 48, "hidden_dropout_prob": 0.3,
              "attn_dropout_prob": 0.3, "hidden_act": "gelu", "layer_norm_eps": 1e-12}


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
def test_forward_at_is_the_full_pass_at_the_asked_positions(n_layers) -> None:
    torch.manual_seed(0)
    transformer = CausalTransformer(n_layers=n_layers, **LAYER_ARGS).eval()
    x = torch.randn(5, 7, 32)
    positions = torch.tensor([0, 6, 3, 2, 5])
    full = transformer(x)[torch.arange(5), positions]
    at = transformer.forward_at(x, positions)
    assert at.shape == (5, 32)
    torch.testing.assert_close(at, full, rtol=1e-5, atol=1e-5)


def test_forward_at_ignores_what_follows_each_position() -> None:
    """Left-aligned rows: whatever lies after a row's position (padding) changes nothing."""
    torch.manual_seed(0)
    transformer = CausalTransformer(n_layers=2, **LAYER_ARGS).eval()
    x = torch.randn(3, 6, 32)
    positions = torch.tensor([1, 4, 0])
    changed = x.clone()
    for row, position in enumerate(positions.tolist()):
        changed[row, position + 1:] = torch.randn(6 - position - 1, 32) * 10
    torch.testing.assert_close(transformer.forward_at(changed, positions), transformer.forward_at(x, positions),
                               rtol=1e-5, atol=1e-5)


def test_unisrec_scores_at_the_last_item_in_evaluation_and_trains_on_the_full_pass(tiny_root) -> None:
    *_, model = build(tiny_root, train_stage="inductive_ft", n_layers=2, hidden_dropout_prob=0.3, attn_dropout_prob=0.3)
    item_emb = model.item_table().detach()[torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])]
    lengths = torch.tensor([4, 2, 1])

    model.eval()
    full = model.gather_indexes(model.encode_positions(item_emb), lengths - 1)
    torch.testing.assert_close(model(item_emb, lengths), full, rtol=1e-5, atol=1e-5)

    model.train()  # same dropout draws as the full pass: training runs stay reproducible bit for bit
    torch.manual_seed(3)
    trained = model(item_emb, lengths)
    torch.manual_seed(3)
    assert torch.equal(trained, model.gather_indexes(model.encode_positions(item_emb), lengths - 1))
