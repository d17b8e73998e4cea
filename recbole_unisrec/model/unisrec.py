"""UniSRec: universal sequence representations from item text (Hou et al., KDD 2022)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.model.layers import CausalTransformer, MoEAdaptorLayer, transformer_settings

TRAIN_STAGES = ("pretrain", "inductive_ft", "transductive_ft")


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

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.train_stage = config["train_stage"]
        if self.train_stage not in TRAIN_STAGES:
            raise ValueError(f"train_stage must be one of {', '.join(TRAIN_STAGES)}; got {self.train_stage!r}")
        self.hidden_size = config["hidden_size"]
        self.temperature = config["temperature"]
        self.lam = config["lambda"]
        self.initializer_range = config["initializer_range"]
        self.adaptor_per_occurrence = config["adaptor_per_occurrence"] is not False

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

    def encode_positions(self, item_emb: torch.Tensor) -> torch.Tensor:
        """Causal encoding of left-aligned item vectors ``[B, L, hidden]``: position ``t`` sees items ``0..t``."""
        length = item_emb.size(1)
        hidden = item_emb + self.position_embedding.weight[:length]
        return self.trm_encoder(self.dropout(self.LayerNorm(hidden)))

    def forward(self, item_emb: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: the output at its last item."""
        return self.gather_indexes(self.encode_positions(item_emb), item_seq_len - 1)

    def sequence_output(self, interaction, table: torch.Tensor) -> torch.Tensor:
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

    def calculate_loss(self, interaction) -> torch.Tensor:
        if self.train_stage == "pretrain":
            return self.pretrain_loss(interaction)
        if TARGETS_FIELD in interaction:
            return self.packed_loss(interaction)
        return F.cross_entropy(self._logits(interaction), interaction[self.POS_ITEM_ID])

    def packed_loss(self, interaction) -> torch.Tensor:
        """Cross-entropy at every position that has a target (rows from ``PackedTrainDataLoader``);
        the mean over targets equals the mean over the equivalent prefix rows."""
        table = self.item_table()
        targets = interaction[TARGETS_FIELD]
        hidden = self.encode_positions(table[interaction[self.ITEM_SEQ]])
        has_target = targets > 0
        return F.cross_entropy(self.item_scores(hidden[has_target], table), targets[has_target])

    def full_sort_predict(self, interaction) -> torch.Tensor:
        return self._logits(interaction)

    def predict(self, interaction) -> torch.Tensor:
        table = self.item_table()
        seq_output = F.normalize(self.sequence_output(interaction, table), dim=-1)
        items = F.normalize(table[interaction[self.ITEM_ID]], dim=-1)
        return (seq_output * items).sum(dim=-1) / self.temperature

    def pretrain_loss(self, interaction) -> torch.Tensor:
        """Multi-domain pre-training loss: seq-item + ``lambda`` x seq-seq (see :meth:`pretrain_terms`)."""
        seq_item, seq_seq = self.pretrain_terms(interaction)
        return seq_item + self.lam * seq_seq

    def pretrain_terms(self, interaction) -> tuple[torch.Tensor, torch.Tensor]:
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
        """
        from recbole_unisrec.data import pretrain_loader as fields

        if fields.PRETRAIN_VECTORS not in interaction:
            raise ValueError("pre-training batches come from PretrainDataLoader (run_pretrain.py), "
                             "which attaches the text vectors and the augmented views")
        vectors = interaction[fields.PRETRAIN_VECTORS]
        targets = interaction[TARGETS_FIELD]
        has_target = targets > 0
        seq_rows, target_rows, aug_rows = (interaction[key] for key in (fields.SEQ_ROWS, fields.TARGET_ROWS, fields.AUG_ROWS))
        if self.adaptor_per_occurrence:
            seq_emb = self._adapt_occurrences(vectors, seq_rows, interaction[self.ITEM_SEQ_LEN])
            next_items = self.moe_adaptor(vectors[target_rows[has_target]])
            aug_emb = self._adapt_occurrences(vectors, aug_rows, interaction[fields.AUG_LENGTH])
        else:
            adapted = self.moe_adaptor(vectors)  # one row per distinct vector
            seq_emb, next_items, aug_emb = adapted[seq_rows], adapted[target_rows[has_target]], adapted[aug_rows]
        hidden = self.encode_positions(seq_emb)
        aug_hidden = self.encode_positions(aug_emb)
        positions = interaction[fields.AUG_POSITIONS]
        aug_hidden = aug_hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, aug_hidden.size(-1)))
        sequences = F.normalize(hidden[has_target], dim=-1)
        views = F.normalize(aug_hidden[has_target], dim=-1)
        row_of_target = has_target.nonzero(as_tuple=True)[0]
        log_freq = interaction[fields.TARGET_LOG_FREQ] if fields.TARGET_LOG_FREQ in interaction else None
        return _contrastive_terms(sequences, F.normalize(next_items, dim=-1), views, targets[has_target],
                                  interaction[fields.ROW_USERS][row_of_target], self.temperature, log_freq)

    def _adapt_occurrences(self, vectors: torch.Tensor, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, L, hidden]``: the adaptor applied to every real item slot of ``rows`` (padding stays zero)."""
        real = torch.arange(rows.size(1), device=rows.device).unsqueeze(0) < lengths.unsqueeze(1)
        adapted = self.moe_adaptor(vectors[rows[real]])
        out = adapted.new_zeros(*rows.shape, adapted.size(-1))
        out[real] = adapted
        return out


def _contrastive_terms(sequences: torch.Tensor, next_items: torch.Tensor, views: torch.Tensor,
                       target_ids: torch.Tensor, user_ids: torch.Tensor, temperature: float,
                       log_freq: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Seq-item and seq-seq cross-entropies of this rank's ``sequences`` [T, H] against the
    candidates of the global batch, same-item and same-user candidates masked; see
    ``UniSRec.pretrain_terms``. ``log_freq`` [T]: each next item's log share of the corpus's
    targets, subtracted from its seq-item logits (the sampled-softmax logQ correction: in-batch
    candidates are drawn by popularity, so uncorrected they teach the model to rank popular items
    down)."""
    from recbole_unisrec import distributed

    sizes = distributed.gather_sizes(sequences.size(0), sequences.device)
    all_items = distributed.gather_with_grad(next_items, sizes)
    all_views = distributed.gather_with_grad(views, sizes)
    all_ids = distributed.gather(target_ids, sizes)
    all_users = distributed.gather(user_ids, sizes)
    own = sum(sizes[: distributed.rank()]) + torch.arange(sequences.size(0), device=sequences.device)
    masked = (target_ids.unsqueeze(1) == all_ids.unsqueeze(0)) | (user_ids.unsqueeze(1) == all_users.unsqueeze(0))
    masked[torch.arange(sequences.size(0), device=sequences.device), own] = False
    scale = len(sizes) / sum(sizes)
    item_logits = sequences @ all_items.T / temperature
    if log_freq is not None:
        item_logits = item_logits - distributed.gather(log_freq, sizes).unsqueeze(0)
    seq_item = _masked_cross_entropy(item_logits, own, masked)
    seq_seq = _masked_cross_entropy(sequences @ all_views.T / temperature, own, masked)
    return seq_item * scale, seq_seq * scale


def _masked_cross_entropy(logits: torch.Tensor, positives: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of ``logits`` [T, C] with ``positives`` [T] as labels, where entries
    ``masked`` [T, C] are removed from the softmax (-inf before the log-softmax). The original
    code sets such logits to 0 instead, which leaves ``exp(0)`` in every denominator."""
    return F.cross_entropy(logits.masked_fill(masked, float("-inf")), positives, reduction="sum")


def trim_padding(item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a left-aligned batch to its longest sequence; exact under a causal mask."""
    longest = int(item_seq_len.max())
    return item_seq[:, :longest], item_seq_len
