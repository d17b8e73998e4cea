"""UniSRec: universal sequence representations from item text (Hou et al., KDD 2022)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.model.layers import CausalTransformer, MoEAdaptorLayer, transformer_settings

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.data.interaction import Interaction

TRAIN_STAGES = ("pretrain", "inductive_ft", "transductive_ft")
ITEM_CANDIDATES = ("batch", "domain")
"""Seq-item candidates in pre-training: the batch's next items (the paper) or all items of the sequence's domain."""


class ItemTextSource(Protocol):
    """What :class:`UniSRec` reads from its data set: a :class:`~recbole_unisrec.data.dataset.UniSRecDataset`,
    or a stand-in when a model is rebuilt from a checkpoint alone (:mod:`recbole_unisrec.model.rebuild`).
    Pre-training with ``pretrain_item_candidates=domain`` also reads ``item_domain``."""

    plm_embedding: nn.Embedding

    def num(self, field: str) -> int: ...


class UniSRec(SequentialRecommender):
    """A SASRec-style causal Transformer over adapted item text vectors.

    ``train_stage``:
      * ``pretrain`` – multi-domain contrastive pre-training (see :meth:`pretrain_loss`);
      * ``inductive_ft`` – items are ``adaptor(text)`` only, so unseen items work;
      * ``transductive_ft`` – ``adaptor(text) + ID embedding``.
    Scores are cosine similarities over ``temperature``. The text vectors are a non-persistent
    buffer: they belong to the data set, so checkpoints carry only what transfers.
    """

    input_type = InputType.POINTWISE

    def __init__(self, config: Config | Mapping[str, Any], dataset: ItemTextSource) -> None:
        super().__init__(config, dataset)
        self.train_stage = config["train_stage"]
        if self.train_stage not in TRAIN_STAGES:
            raise ValueError(f"train_stage must be one of {', '.join(TRAIN_STAGES)}; got {self.train_stage!r}")
        self.hidden_size = config["hidden_size"]
        self.temperature = config["temperature"]
        self.lam = config["lambda"]
        self.initializer_range = config["initializer_range"]
        self.adaptor_per_occurrence = config["adaptor_per_occurrence"] is not False
        self.item_candidates = config["pretrain_item_candidates"] or "batch"
        if self.item_candidates not in ITEM_CANDIDATES:
            raise ValueError(f"pretrain_item_candidates must be one of {', '.join(ITEM_CANDIDATES)}; "
                             f"got {self.item_candidates!r}")

        # Shares the data set's table (read once from the memory-mapped cache): no second copy.
        self.register_buffer("text_vectors", dataset.plm_embedding.weight.detach(), persistent=False)
        self.plm_size = self.text_vectors.shape[1]
        adaptor_layers = list(config["adaptor_layers"] or [self.plm_size, self.hidden_size])
        if adaptor_layers != [self.plm_size, self.hidden_size]:
            raise ValueError(
                f"adaptor_layers {adaptor_layers} does not fit: the text vectors of {config['dataset']} are "
                f"{self.plm_size}-d and hidden_size is {self.hidden_size}; use [{self.plm_size}, {self.hidden_size}]"
            )

        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])
        self.trm_encoder = CausalTransformer(**transformer_settings(config))
        if self.train_stage == "transductive_ft":
            self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.apply(self._init_weights)
        self.moe_adaptor = MoEAdaptorLayer(config["n_exps"], adaptor_layers, dropout=config["adaptor_dropout_prob"])
        self.moe_adaptor.apply(self._init_weights)
        if self.train_stage == "pretrain" and self.item_candidates == "domain":
            if getattr(dataset, "item_domain", None) is None:
                raise ValueError("pretrain_item_candidates=domain needs a multi-domain corpus (its items' domains)")
            if config["pretrain_logq_correction"]:
                raise ValueError("pretrain_logq_correction corrects in-batch candidates: it does not apply to "
                                 "pretrain_item_candidates=domain (a full softmax)")
            self.register_buffer("item_domain", dataset.item_domain.clone(), persistent=False)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def item_table(self) -> torch.Tensor:
        """Representations of all items, ``[n_items, hidden]`` (row 0 is padding)."""
        table = self.moe_adaptor(self.text_vectors)
        if self.train_stage == "transductive_ft":
            table = table + self.item_embedding.weight
        return table

    def _transformer_input(self, item_emb: torch.Tensor) -> torch.Tensor:
        hidden = item_emb + self.position_embedding.weight[:item_emb.size(1)]
        return self.dropout(self.LayerNorm(hidden))

    def encode_positions(self, item_emb: torch.Tensor) -> torch.Tensor:
        """Causal encoding of left-aligned item vectors ``[B, L, hidden]``: position ``t`` sees items ``0..t``."""
        return self.trm_encoder(self._transformer_input(item_emb))

    def forward(self, item_emb: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: the output at its last item.

        Outside training the last Transformer layer runs at that item only (the same values up to
        float rounding, a third less work for a two-layer model); training keeps the full pass, so
        its dropout draws, and every training run on the results page, stay as they were.
        """
        if self.training:
            return self.gather_indexes(self.encode_positions(item_emb), item_seq_len - 1)
        return self.trm_encoder.forward_at(self._transformer_input(item_emb), item_seq_len - 1)

    def sequence_output(self, interaction: Interaction, table: torch.Tensor) -> torch.Tensor:
        item_seq, item_seq_len = trim_padding(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return self.forward(table[item_seq], item_seq_len)

    def _logits(self, interaction) -> torch.Tensor:
        table = self.item_table()
        return self.item_scores(self.sequence_output(interaction, table), table)

    def item_scores(self, outputs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Cosine similarity / ``temperature`` of each output with every item; the padding item
        (column 0) is never a candidate (-inf). Its vector is zero from scratch, and letting it
        into the softmax sends a 1e12 gradient through its normalisation (NaN under float16 AMP,
        so every step would be skipped)."""
        logits = F.normalize(outputs, dim=-1) @ F.normalize(table, dim=-1).T / self.temperature
        return logits.index_fill(-1, torch.zeros(1, dtype=torch.long, device=logits.device), float("-inf"))

    def calculate_loss(self, interaction: Interaction) -> torch.Tensor:
        if self.train_stage == "pretrain":
            return self.pretrain_loss(interaction)
        if TARGETS_FIELD in interaction:
            return self.packed_loss(interaction)
        return F.cross_entropy(self._logits(interaction), interaction[self.POS_ITEM_ID])

    def packed_loss(self, interaction: Interaction) -> torch.Tensor:
        """Cross-entropy at every position that has a target (rows from ``PackedTrainDataLoader``);
        the mean over targets equals the mean over the equivalent prefix rows."""
        table = self.item_table()
        targets = interaction[TARGETS_FIELD]
        hidden = self.encode_positions(table[interaction[self.ITEM_SEQ]])
        has_target = targets > 0
        return F.cross_entropy(self.item_scores(hidden[has_target], table), targets[has_target])

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return self._logits(interaction)

    def predict(self, interaction: Interaction) -> torch.Tensor:
        table = self.item_table()
        seq_output = F.normalize(self.sequence_output(interaction, table), dim=-1)
        items = F.normalize(table[interaction[self.ITEM_ID]], dim=-1)
        return (seq_output * items).sum(dim=-1) / self.temperature

    def pretrain_loss(self, interaction: Interaction) -> torch.Tensor:
        """Multi-domain pre-training loss: seq-item + ``lambda`` x seq-seq (see :meth:`pretrain_terms`)."""
        seq_item, seq_seq = self.pretrain_terms(interaction)
        return seq_item + self.lam * seq_seq

    def pretrain_terms(self, interaction: Interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """The two contrastive terms on a batch of ``PretrainDataLoader`` (mean over targets).

        Every position with a target is one sequence (its prefix). Seq-item: its output against the
        next items of all the batch's sequences (every domain), the true next item the positive.
        Seq-seq: its output against the augmented views of all the batch's sequences, its own
        view the positive. In both, two kinds of candidate are removed from the softmax (-inf):
        one whose next item equals the query's true next item (it is no negative), and one that
        belongs to the query's own user (a packed row holds every prefix of a history, so without
        this a sequence would push its user's own future items and near-copies of itself away;
        the original code's corpus-wide row shuffle almost never puts two prefixes of one user in
        a batch). Vectors are L2-normalised, scores divided by ``temperature``, and the loss is a
        cross-entropy (log-softmax), so it cannot overflow. Under ``torchrun`` the candidates come
        from every rank's batch (gathered with gradients) and each term is scaled by
        ``world_size / global targets``, so the gradients that DistributedDataParallel averages are
        those of one process over the global batch.

        ``adaptor_per_occurrence`` (default True, as the original code): the MoE adaptor runs on
        every occurrence of an item (input, target and augmented view), each with its own dropout
        mask and gate noise; False runs it once per distinct item of the batch and shares the draw.

        ``pretrain_item_candidates=domain`` (an experiment; the paper uses the batch): the seq-item
        term is instead a full softmax over every item of the sequence's domain (see
        :meth:`domain_seq_item`), the loss fine-tuning uses on one domain.
        """
        from recbole_unisrec.data import pretrain_loader as fields

        if fields.PRETRAIN_VECTORS not in interaction:
            raise ValueError("pre-training batches come from PretrainDataLoader (run_pretrain.py), "
                             "which attaches the text vectors and the augmented views")
        vectors = interaction[fields.PRETRAIN_VECTORS]
        targets = interaction[TARGETS_FIELD]
        has_target = targets > 0
        seq_rows, target_rows, aug_rows = (interaction[key] for key in (fields.SEQ_ROWS, fields.TARGET_ROWS, fields.AUG_ROWS))
        in_batch = self.item_candidates == "batch"  # else the next items are candidates of domain_seq_item
        next_items = None
        if self.adaptor_per_occurrence:
            seq_emb = self._adapt_occurrences(vectors, seq_rows, interaction[self.ITEM_SEQ_LEN])
            if in_batch:
                next_items = self.moe_adaptor(vectors[target_rows[has_target]])
            aug_emb = self._adapt_occurrences(vectors, aug_rows, interaction[fields.AUG_LENGTH])
        else:
            adapted = self.moe_adaptor(vectors)  # one row per distinct vector
            seq_emb, aug_emb = adapted[seq_rows], adapted[aug_rows]
            if in_batch:
                next_items = adapted[target_rows[has_target]]
        hidden = self.encode_positions(seq_emb)
        aug_hidden = self.encode_positions(aug_emb)
        positions = interaction[fields.AUG_POSITIONS]
        aug_hidden = aug_hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, aug_hidden.size(-1)))
        sequences = F.normalize(hidden[has_target], dim=-1)
        views = F.normalize(aug_hidden[has_target], dim=-1)
        row_of_target = has_target.nonzero(as_tuple=True)[0]
        log_freq = interaction[fields.TARGET_LOG_FREQ] if fields.TARGET_LOG_FREQ in interaction else None
        seq_item_sum = None if in_batch else self.domain_seq_item(sequences, targets[has_target])
        return _contrastive_terms(sequences, None if next_items is None else F.normalize(next_items, dim=-1), views,
                                  targets[has_target], interaction[fields.ROW_USERS][row_of_target], self.temperature,
                                  log_freq, seq_item_sum)

    def domain_seq_item(self, sequences: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """Summed seq-item cross-entropy of normalised ``sequences`` [T, H] over every item of each
        one's domain (the domain of its next item ``target_ids``), the next item the positive. The
        candidates are adapted once per step; items of other domains are no candidates (-inf).
        Unlike the in-batch task nothing else is removed: a user's own other items are in the
        softmax, as in fine-tuning."""
        domains = self.item_domain[target_ids]
        candidates = torch.isin(self.item_domain, domains.unique()).nonzero(as_tuple=True)[0]
        table = F.normalize(self.moe_adaptor(self.text_vectors[candidates]), dim=-1)
        other_domain = domains.unsqueeze(1) != self.item_domain[candidates].unsqueeze(0)
        positives = torch.searchsorted(candidates, target_ids)
        return _masked_cross_entropy(sequences @ table.T / self.temperature, positives, other_domain)

    def _adapt_occurrences(self, vectors: torch.Tensor, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, L, hidden]``: the adaptor applied to every real item slot of ``rows`` (padding stays zero)."""
        real = torch.arange(rows.size(1), device=rows.device).unsqueeze(0) < lengths.unsqueeze(1)
        adapted = self.moe_adaptor(vectors[rows[real]])
        out = adapted.new_zeros(*rows.shape, adapted.size(-1))
        out[real] = adapted
        return out


def _contrastive_terms(sequences: torch.Tensor, next_items: torch.Tensor | None, views: torch.Tensor,
                       target_ids: torch.Tensor, user_ids: torch.Tensor, temperature: float,
                       log_freq: torch.Tensor | None = None,
                       seq_item_sum: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Seq-item and seq-seq cross-entropies of this rank's ``sequences`` [T, H] against the
    candidates of the global batch, same-item and same-user candidates masked; see
    ``UniSRec.pretrain_terms``. ``log_freq`` [T]: each next item's log share of the corpus's
    targets, subtracted from its seq-item logits (the sampled-softmax logQ correction: in-batch
    candidates are drawn by popularity, so uncorrected they teach the model to rank popular items
    down). ``seq_item_sum``: this rank's summed seq-item loss computed against other candidates
    (``UniSRec.domain_seq_item``), used instead of the in-batch one (``next_items`` None)."""
    from recbole_unisrec import distributed

    sizes = distributed.gather_sizes(sequences.size(0), sequences.device)
    all_views = distributed.gather_with_grad(views, sizes)
    all_ids = distributed.gather(target_ids, sizes)
    all_users = distributed.gather(user_ids, sizes)
    own = sum(sizes[: distributed.rank()]) + torch.arange(sequences.size(0), device=sequences.device)
    masked = (target_ids.unsqueeze(1) == all_ids.unsqueeze(0)) | (user_ids.unsqueeze(1) == all_users.unsqueeze(0))
    masked[torch.arange(sequences.size(0), device=sequences.device), own] = False
    scale = len(sizes) / sum(sizes)
    if seq_item_sum is None:
        item_logits = sequences @ distributed.gather_with_grad(next_items, sizes).T / temperature
        if log_freq is not None:
            item_logits = item_logits - distributed.gather(log_freq, sizes).unsqueeze(0)
        seq_item_sum = _masked_cross_entropy(item_logits, own, masked)
    seq_seq = _masked_cross_entropy(sequences @ all_views.T / temperature, own, masked)
    return seq_item_sum * scale, seq_seq * scale


def _masked_cross_entropy(logits: torch.Tensor, positives: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of ``logits`` [T, C] with ``positives`` [T] as labels, where entries
    ``masked`` [T, C] are removed from the softmax (-inf before the log-softmax). The original
    code sets such logits to 0 instead, which leaves ``exp(0)`` in every denominator."""
    return F.cross_entropy(logits.masked_fill(masked, float("-inf")), positives, reduction="sum")


def trim_padding(item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a left-aligned batch to its longest sequence; exact under a causal mask."""
    longest = int(item_seq_len.max())
    return item_seq[:, :longest], item_seq_len
