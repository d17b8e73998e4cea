"""Building blocks of UniSRec: the text adaptor and a causal Transformer.

The Transformer mirrors RecBole's ``TransformerEncoder`` (post-LayerNorm blocks: attention,
dropout, residual, LayerNorm; then a two-layer feed-forward net the same way) but calls
PyTorch's fused ``scaled_dot_product_attention`` with a causal mask instead of building a
``[B, 1, L, L]`` additive mask. Sequences are left-aligned (items first, padding after), so for
every real position the causal mask already hides all padding. ``forward_at`` gives the output at
one position per sequence (evaluation needs only the last item's) with the last layer run there only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from recbole.config import Config

TRANSFORMER_SETTINGS = ("n_layers", "n_heads", "hidden_size", "inner_size", "hidden_dropout_prob",
                        "attn_dropout_prob", "hidden_act", "layer_norm_eps")
"""The config keys that size a Transformer sequence encoder (RecBole's TransformerEncoder or
:class:`CausalTransformer`; both take them as keyword arguments of these names)."""


def transformer_settings(config: Config | Mapping[str, Any]) -> dict[str, Any]:
    """``{key: config[key]}`` for :data:`TRANSFORMER_SETTINGS`."""
    return {key: config[key] for key in TRANSFORMER_SETTINGS}


_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "swish": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class PWLayer(nn.Module):
    """Parametric whitening: ``W (dropout(x) - b)``."""

    def __init__(self, input_size: int, output_size: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.bias = nn.Parameter(torch.zeros(input_size))
        self.lin = nn.Linear(input_size, output_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.dropout(x) - self.bias)


class MoEAdaptorLayer(nn.Module):
    """Mixture of ``n_exps`` whitening experts, mixed by ``softmax(x G + noise)``.

    The noise has a learned, input-dependent scale (``softplus(x W_noise) + eps``) and is added
    only in training, as in the paper's noisy gating. The experts are :class:`PWLayer` modules
    (so parameters keep the original names) but run as one batched product: each expert still
    draws its own dropout mask, and ``W (x - b)`` is computed as ``W x - W b``.
    """

    def __init__(self, n_exps: int, layers: list[int], dropout: float = 0.0, noise: bool = True):
        super().__init__()
        if len(layers) != 2:
            raise ValueError(f"adaptor_layers must be [input size, output size], got {layers}")
        self.n_exps = n_exps
        self.noisy_gating = noise
        self.dropout_prob = dropout
        self.experts = nn.ModuleList([PWLayer(layers[0], layers[1], dropout) for _ in range(n_exps)])
        self.w_gate = nn.Parameter(torch.zeros(layers[0], n_exps))
        self.w_noise = nn.Parameter(torch.zeros(layers[0], n_exps))

    def gates(self, x: torch.Tensor, noise_epsilon: float = 1e-2) -> torch.Tensor:
        logits = x @ self.w_gate
        if self.noisy_gating and self.training:
            noise_std = F.softplus(x @ self.w_noise) + noise_epsilon
            logits = logits + torch.randn_like(logits) * noise_std
        return F.softmax(logits, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        weight = torch.stack([expert.lin.weight for expert in self.experts])  # [E, out, in]
        bias = torch.stack([expert.bias for expert in self.experts])  # [E, in]
        n_exps, out_size, in_size = weight.shape
        if self.training and self.dropout_prob > 0:
            dropped = F.dropout(flat.unsqueeze(0).expand(n_exps, -1, -1), self.dropout_prob, training=True)
            expert_out = torch.bmm(dropped, weight.transpose(1, 2))  # [E, N, out]
        else:
            expert_out = (flat @ weight.reshape(n_exps * out_size, in_size).T).view(-1, n_exps, out_size).transpose(0, 1)
        expert_out = expert_out - torch.bmm(bias.unsqueeze(1), weight.transpose(1, 2))
        mixed = torch.einsum("ne,eno->no", self.gates(flat), expert_out)
        return mixed.view(*x.shape[:-1], out_size)


class CausalTransformerLayer(nn.Module):
    def __init__(self, hidden_size: int, n_heads: int, inner_size: int, hidden_dropout_prob: float,
                 attn_dropout_prob: float, hidden_act: str, layer_norm_eps: float):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of n_heads ({n_heads})")
        if hidden_act not in _ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {sorted(_ACTIVATIONS)}, got {hidden_act!r}")
        self.n_heads = n_heads
        self.attn_dropout_prob = attn_dropout_prob
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.attn_out = nn.Linear(hidden_size, hidden_size)
        self.attn_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.ffn_in = nn.Linear(hidden_size, inner_size)
        self.ffn_out = nn.Linear(inner_size, hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)
        self.activation = _ACTIVATIONS[hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_heads, hidden // self.n_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_dropout_prob if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        return self._feed_forward(self.attn_norm(x + self.dropout(self.attn_out(attended))))

    def forward_at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The layer's output at one position per sequence, ``[B, hidden]``: ``forward(x)[b, positions[b]]``.

        Keys and values are projected at every position, the query and everything after the
        attention only at ``positions``, so the layer does about a third of the work.
        """
        batch, length, hidden = x.shape
        head_size = hidden // self.n_heads
        at = x[torch.arange(batch, device=x.device), positions]  # [B, hidden]
        q = F.linear(at, self.qkv.weight[:hidden], self.qkv.bias[:hidden]).view(batch, self.n_heads, 1, head_size)
        k, v = F.linear(x, self.qkv.weight[hidden:], self.qkv.bias[hidden:]).view(
            batch, length, 2, self.n_heads, head_size).permute(2, 0, 3, 1, 4)
        visible = torch.arange(length, device=x.device) <= positions.unsqueeze(1)  # [B, L]: causal, at ``positions``
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=visible[:, None, None, :], dropout_p=self.attn_dropout_prob if self.training else 0.0
        )
        return self._feed_forward(self.attn_norm(at + self.dropout(self.attn_out(attended.reshape(batch, hidden)))))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_norm(x + self.dropout(self.ffn_out(self.activation(self.ffn_in(x)))))


class CausalTransformer(nn.Module):
    def __init__(self, n_layers: int, **layer_args):
        super().__init__()
        self.layers = nn.ModuleList([CausalTransformerLayer(**layer_args) for _ in range(n_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``forward(x)[b, positions[b]]``, ``[B, hidden]``, with the last layer run at those positions only."""
        if not self.layers:
            return x[torch.arange(x.size(0), device=x.device), positions]
        *lower, last = self.layers
        for layer in lower:
            x = layer(x)
        return last.forward_at(x, positions)
