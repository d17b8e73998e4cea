"""FDSA and S3-Rec in the UniSRec paper's form: their item-feature side reads the item text vectors.

The UniSRec paper (Sec. 4.1) compares against FDSA and S3-Rec "with text features": the same
frozen text vectors UniSRec reads (``dataset.plm_embedding``), passed through a learned linear
adapter ``nn.Linear(text vector size, hidden_size)`` in place of RecBole's categorical feature
tables. Both subclass RecBole's models and keep their architecture, losses and defaults otherwise.
They are named ``FDSAText`` and ``S3RecText`` so that RecBole's own ``FDSA`` / ``S3Rec`` (which
need categorical item features this project's data sets do not have) stay reachable by name.

* :class:`FDSAText` – RecBole's FDSA: an item-ID Transformer and a feature Transformer, outputs
  concatenated. The feature sequence is ``adapter(text vector of each item)``. RecBole's
  feature-level attention over several feature fields is dropped: with one feature (the text
  vector) its softmax weight is exactly 1, so it is the identity. Items are scored with the ID
  embedding, as in RecBole and the original UniSRec baseline.
* :class:`S3RecText` – RecBole's S3-Rec with both stages. ``train_stage: pretrain`` trains the
  four self-supervised tasks (AAP, MIP, MAP, SP). As in the UniSRec authors' baseline, every item's
  attribute is its own text: the attribute table is ``adapter(text vectors)`` (one row per item),
  so AAP / MAP predict which item's text belongs at a position. ``train_stage: finetune`` loads a
  pre-trained checkpoint (``pre_model_path``, loaded with ``torch.load(weights_only=True)``) and
  trains next-item prediction with the ID embedding, like RecBole's S3Rec; the pre-training heads
  and the adapter get no gradient there and are frozen, so the trainable-parameter count is honest.
  :func:`recbole_unisrec.baselines.run_s3rec_text` runs both stages in one call, pre-training
  with :class:`S3RecTextTrainer` (fixed ``pretrain_epochs``, no validation) over
  :class:`UserSequenceDataLoader`. (``quick_start.run`` with ``train_stage: pretrain`` would use
  RecBole's plain Trainer on prefix rows, since ``registry.get_trainer`` looks only in
  ``recbole_unisrec.trainer``.)

Differences from RecBole's S3Rec, on purpose: sequences stay left-aligned (RecBole's S3Rec
re-pads pre-training sequences on the left but fine-tunes on right-padded rows, so position
embeddings mean different things in its two stages); the segment-prediction context is the
output at the last item (RecBole: the last column, which is that item under left padding);
negative items for MIP never include the mask token; AAP / MAP compute the binary cross-entropy
against the one-hot attribute without materialising the ``[B, L, n_items]`` one-hot tensor;
rows shorter than two items, whose segment task RecBole reduces to a constant, are left out of SP.
Pre-training reads one row per user (its whole training sequence, see
:class:`UserSequenceDataLoader`) as the S3-Rec paper does, not RecBole's one row per prefix.
"""
from __future__ import annotations

from collections.abc import Callable
from logging import getLogger
from time import time
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.layers import TransformerEncoder
from recbole.model.loss import BPRLoss
from recbole.model.sequential_recommender.fdsa import FDSA
from recbole.model.sequential_recommender.s3rec import S3Rec
from recbole.trainer import Trainer
from torch import nn

from recbole_unisrec.data.dataloader import LengthBucketedBatches
from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.model.layers import TRANSFORMER_SETTINGS, transformer_settings
from recbole_unisrec.model.packed import AllPositionsMixin

if TYPE_CHECKING:
    from recbole.config import Config
    from recbole.data.dataset import SequentialDataset

    from recbole_unisrec.data.dataset import UniSRecDataset

# RecBole's sine.py switches on global anomaly detection when FDSA/S3Rec are imported; the
# package import in recbole_unisrec.compat has already happened and switched it off again.

S3REC_STAGES = ("pretrain", "finetune")


def _recommendation_loss(loss_type: str) -> nn.Module:
    """The next-item loss RecBole's FDSA and S3Rec pick by ``loss_type``."""
    if loss_type == "BPR":
        return BPRLoss()
    if loss_type == "CE":
        return nn.CrossEntropyLoss()
    raise ValueError(f"loss_type must be BPR or CE, got {loss_type!r}")


def _copy_settings(model: nn.Module, config, keys: tuple[str, ...]) -> None:
    for key in keys:
        setattr(model, key, config[key])


def _transformer(config) -> TransformerEncoder:
    return TransformerEncoder(**transformer_settings(config))


def _text_table(dataset) -> torch.Tensor:
    """The data set's text vectors, ``[n_items, plm_size]`` (row 0 is the zero padding row)."""
    table = getattr(dataset, "plm_embedding", None)
    if table is None:
        raise ValueError("this model reads item text vectors, but the data set has none (is it registered in TEXT_MODELS?)")
    return table.weight.detach().clone()


class FDSAText(AllPositionsMixin, FDSA):
    """RecBole's FDSA whose feature side is ``nn.Linear(plm_size, hidden_size)`` over the text vectors;
    it also trains on packed rows (``packed_training: True``, see :mod:`recbole_unisrec.model.packed`)."""

    def __init__(self, config: Config, dataset: UniSRecDataset) -> None:
        SequentialRecommender.__init__(self, config, dataset)  # FDSA.__init__ builds categorical feature tables
        _copy_settings(self, config, TRANSFORMER_SETTINGS)  # what the skipped part of RecBole's __init__ reads
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]

        # frozen text vectors: a buffer that checkpoints do not carry (they belong to the data set)
        self.register_buffer("text_vectors", _text_table(dataset), persistent=False)
        self.plm_size = self.text_vectors.shape[1]
        if self.text_vectors.shape[0] != self.n_items:
            raise ValueError(f"text vectors have {self.text_vectors.shape[0]} rows for {self.n_items} item ids")

        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.text_adapter = nn.Linear(self.plm_size, self.hidden_size)
        self.item_trm_encoder = _transformer(config)
        self.feature_trm_encoder = _transformer(config)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        self.dropout = nn.Dropout(self.hidden_dropout_prob)
        self.concat_layer = nn.Linear(self.hidden_size * 2, self.hidden_size)
        self.loss_fct = _recommendation_loss(self.loss_type)
        self.apply(self._init_weights)

    def feature_embedding(self, item_seq: torch.Tensor) -> torch.Tensor:
        """``[B, L, hidden]``: the adapted text vector of every item of the sequence."""
        return self.text_adapter(self.text_vectors[item_seq])

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        position_embedding = self.position_embedding.weight[: item_seq.size(1)].unsqueeze(0)
        item_trm_input = self.dropout(self.LayerNorm(self.item_embedding(item_seq) + position_embedding))
        feature_trm_input = self.dropout(self.LayerNorm(self.feature_embedding(item_seq) + position_embedding))
        attention_mask = self.get_attention_mask(item_seq)
        item_output = self.item_trm_encoder(item_trm_input, attention_mask, output_all_encoded_layers=True)[-1]
        feature_output = self.feature_trm_encoder(feature_trm_input, attention_mask, output_all_encoded_layers=True)[-1]
        item_output = self.gather_indexes(item_output, item_seq_len - 1)
        feature_output = self.gather_indexes(feature_output, item_seq_len - 1)
        output = self.concat_layer(torch.cat((item_output, feature_output), -1))
        return self.dropout(self.LayerNorm(output))


class S3RecText(S3Rec):
    """RecBole's S3-Rec whose attributes are the items' text vectors through a linear adapter."""

    PRETRAIN_ONLY = ("feature_adapter.", "aap_norm.", "mip_norm.", "map_norm.", "sp_norm.")
    """Modules only the pre-training tasks use; frozen in fine-tuning."""

    def __init__(self, config: Config, dataset: UniSRecDataset) -> None:
        SequentialRecommender.__init__(self, config, dataset)  # S3Rec.__init__ needs a categorical attribute
        self.train_stage = config["train_stage"]
        if self.train_stage not in S3REC_STAGES:
            raise ValueError(f"S3RecText: train_stage must be pretrain or finetune, got {self.train_stage!r}")
        _copy_settings(self, config, TRANSFORMER_SETTINGS)
        self.pre_model_path = config["pre_model_path"]
        self.mask_ratio = config["mask_ratio"]
        self.aap_weight = config["aap_weight"]
        self.mip_weight = config["mip_weight"]
        self.map_weight = config["map_weight"]
        self.sp_weight = config["sp_weight"]
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]

        self.n_items = dataset.item_num + 1  # one more id: the mask token
        self.mask_token = self.n_items - 1
        text = _text_table(dataset)
        if text.shape[0] != dataset.item_num:
            raise ValueError(f"text vectors have {text.shape[0]} rows for {dataset.item_num} item ids")
        # the attribute table: one attribute per real item (its text), padding row left out;
        # attribute a is item a + 1
        self.register_buffer("text_vectors", text[1:], persistent=False)
        self.plm_size = text.shape[1]
        self.n_features = text.shape[0] - 1

        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.feature_adapter = nn.Linear(self.plm_size, self.hidden_size)
        self.trm_encoder = _transformer(config)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        self.dropout = nn.Dropout(self.hidden_dropout_prob)
        self.aap_norm = nn.Linear(self.hidden_size, self.hidden_size)
        self.mip_norm = nn.Linear(self.hidden_size, self.hidden_size)
        self.map_norm = nn.Linear(self.hidden_size, self.hidden_size)
        self.sp_norm = nn.Linear(self.hidden_size, self.hidden_size)
        self.loss_fct = nn.BCEWithLogitsLoss(reduction="none")
        if self.train_stage == "finetune":
            self.loss_fct = _recommendation_loss(self.loss_type)
        self.apply(self._init_weights)
        if self.train_stage == "finetune":
            self._load_pretrained(self.pre_model_path)
            for name, parameter in self.named_parameters():
                if name.startswith(self.PRETRAIN_ONLY):
                    parameter.requires_grad = False

    def _load_pretrained(self, path) -> None:
        if not path:
            raise ValueError(
                "S3RecText train_stage finetune needs pre_model_path, a checkpoint of its pretrain stage "
                "(run_baseline.py -m S3RecText runs both stages)"
            )
        state = load_checkpoint(path)["state_dict"]
        own = self.state_dict()
        missing = [name for name in own if name not in state]
        if missing:
            raise CheckpointError(f"{path}: not an S3RecText checkpoint (no {missing[0]})")
        for name, value in own.items():
            if tuple(state[name].shape) != tuple(value.shape):
                raise CheckpointError(
                    f"{path}: parameter {name} has shape {tuple(state[name].shape)} in the checkpoint but "
                    f"{tuple(value.shape)} here (another data set or hidden_size?)"
                )
        self.load_state_dict({name: state[name] for name in own})
        getLogger().info(f"S3RecText: loaded pre-trained {path}")

    # --- pre-training -------------------------------------------------------------------------

    def attribute_table(self) -> torch.Tensor:
        """``[n_items - 1, hidden]``: the adapted text vector of every real item (attribute a = item a + 1)."""
        return self.feature_adapter(self.text_vectors)

    @staticmethod
    def _one_hot_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum of ``BCEWithLogits(logits, one_hot(target))`` over all entries, without the one-hot:
        ``BCE(x, y) = softplus(x) - x y``."""
        return F.softplus(logits).sum() - logits.gather(1, target.unsqueeze(1)).sum()

    def _sample_negatives(self, item_seq: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """A random real item (never the mask token) at each ``where`` position, not in that row."""
        high = self.mask_token  # real items are 1 .. mask_token - 1
        negatives = torch.randint(1, high, item_seq.shape, device=item_seq.device)
        for _ in range(100):
            clash = where & (negatives.unsqueeze(-1) == item_seq.unsqueeze(1)).any(-1)
            if not clash.any():
                break
            negatives[clash] = torch.randint(1, high, (int(clash.sum()),), device=item_seq.device)
        return negatives

    def pretrain_loss(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """The four S3-Rec tasks on left-aligned sequences (see the module docstring)."""
        batch, width = item_seq.shape
        positions = torch.arange(width, device=item_seq.device).unsqueeze(0)
        valid = positions < item_seq_len.unsqueeze(1)
        masked = valid & (torch.rand(item_seq.shape, device=item_seq.device) < self.mask_ratio)
        masked_sequence = torch.where(masked, torch.full_like(item_seq, self.mask_token), item_seq)
        sequence_output = self.forward(masked_sequence)  # bidirectional, [B, L, H]
        attributes = self.attribute_table()

        # AAP: the attribute (text) of every unmasked item
        kept = valid & ~masked
        aap_loss = self._one_hot_bce(self.aap_norm(sequence_output[kept]) @ attributes.T, item_seq[kept] - 1)
        # MIP: the masked item against a sampled negative (pairwise, as RecBole)
        negatives = self._sample_negatives(item_seq, masked)
        masked_output = sequence_output[masked]
        pos_score = self._masked_item_prediction(masked_output, self.item_embedding(item_seq[masked]))
        neg_score = self._masked_item_prediction(masked_output, self.item_embedding(negatives[masked]))
        distance = pos_score - neg_score
        mip_loss = self.loss_fct(distance, torch.ones_like(distance)).sum()
        # MAP: the attribute (text) of every masked item
        map_loss = self._one_hot_bce(self.map_norm(masked_output) @ attributes.T, item_seq[masked] - 1)
        # SP: a masked-out segment against a random segment of the batch's items
        sp_loss = self._segment_loss(item_seq, item_seq_len, valid, positions)

        return (self.aap_weight * aap_loss + self.mip_weight * mip_loss
                + self.map_weight * map_loss + self.sp_weight * sp_loss)

    def _segment_loss(self, item_seq, item_seq_len, valid, positions) -> torch.Tensor:
        rows = item_seq_len >= 2
        if not rows.any():
            return item_seq.new_zeros((), dtype=torch.float)
        seq, lengths, valid = item_seq[rows], item_seq_len[rows], valid[rows]
        device = seq.device
        seg_len = (torch.rand(len(seq), device=device) * (lengths // 2)).long() + 1      # 1 .. len // 2
        start = (torch.rand(len(seq), device=device) * (lengths - seg_len + 1)).long()    # 0 .. len - seg_len
        in_segment = (positions >= start.unsqueeze(1)) & (positions < (start + seg_len).unsqueeze(1))
        mask_fill = torch.where(valid, torch.full_like(seq, self.mask_token), torch.zeros_like(seq))
        flat = item_seq[item_seq > 0]  # every item of the batch, row after row
        neg_start = (torch.rand(len(seq), device=device) * (len(flat) - seg_len + 1)).long()
        neg_index = (neg_start.unsqueeze(1) + positions - start.unsqueeze(1)).clamp(0, len(flat) - 1)
        masked_segment = torch.where(in_segment, torch.full_like(seq, self.mask_token), seq)
        pos_segment = torch.where(in_segment, seq, mask_fill)
        neg_segment = torch.where(in_segment, flat[neg_index], mask_fill)
        last = lengths - 1
        context = self.gather_indexes(self.forward(masked_segment), last)
        pos_emb = self.gather_indexes(self.forward(pos_segment), last)
        neg_emb = self.gather_indexes(self.forward(neg_segment), last)
        distance = self._segment_prediction(context, pos_emb) - self._segment_prediction(context, neg_emb)
        return self.loss_fct(distance, torch.ones_like(distance)).sum()

    # --- RecBole interface ----------------------------------------------------------------------

    def calculate_loss(self, interaction: Interaction) -> torch.Tensor:
        item_seq = interaction[self.ITEM_SEQ]
        item_seq_len = interaction[self.ITEM_SEQ_LEN]
        if self.train_stage == "pretrain":
            return self.pretrain_loss(item_seq, item_seq_len)
        seq_output = self.gather_indexes(self.forward(item_seq, bidirectional=False), item_seq_len - 1)
        pos_items = interaction[self.POS_ITEM_ID]
        if self.loss_type == "BPR":
            neg_items = interaction[self.NEG_ITEM_ID]
            pos_score = (seq_output * self.item_embedding(pos_items)).sum(-1)
            neg_score = (seq_output * self.item_embedding(neg_items)).sum(-1)
            return self.loss_fct(pos_score, neg_score)
        logits = seq_output @ self.item_embedding.weight[: self.mask_token].T  # the mask token is no candidate
        return self.loss_fct(logits, pos_items)


class S3RecTextTrainer(Trainer):
    """RecBole's Trainer; in ``train_stage: pretrain`` it runs ``pretrain_epochs`` epochs of the
    self-supervised tasks without validation (as RecBole's ``PretrainTrainer``) and saves a safe
    checkpoint every ``save_step`` epochs and after the last one (``saved_model_file`` then names
    the last). Fine-tuning is RecBole's ``fit``."""

    def pretrained_file(self, epoch: int) -> str:
        stem = self.saved_model_file[:-4] if self.saved_model_file.endswith(".pth") else self.saved_model_file
        return f"{stem}-pretrain{epoch}.pth"

    def fit(self, train_data: AbstractDataLoader, valid_data: AbstractDataLoader | None = None, verbose: bool = True,
            saved: bool = True, show_progress: bool = False, callback_fn: Callable | None = None) -> tuple[float, dict | None]:
        if self.model.train_stage != "pretrain":
            return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        epochs = int(self.config["pretrain_epochs"])
        save_step = int(self.config["save_step"] or epochs)
        last_file = None
        for epoch in range(self.start_epoch, epochs):
            started = time()
            loss = self._train_epoch(train_data, epoch, show_progress=show_progress)
            self.train_loss_dict[epoch] = sum(loss) if isinstance(loss, tuple) else loss
            if verbose:
                self.logger.info(self._generate_train_loss_output(epoch, started, time(), loss))
            if saved and ((epoch + 1) % save_step == 0 or epoch + 1 == epochs):
                last_file = self.pretrained_file(epoch + 1)
                self._save_checkpoint(epoch, verbose=verbose, saved_model_file=last_file)
        if last_file is not None:
            self.saved_model_file = last_file
        return self.best_valid_score, None


class UserSequenceDataLoader(LengthBucketedBatches, AbstractDataLoader):
    """One row per user: the whole training sequence (the user's longest training history plus its
    target, last ``MAX_ITEM_LIST_LENGTH`` items), as S3-Rec pre-trains. Batched by length like
    :class:`recbole_unisrec.data.dataloader.PackedTrainDataLoader` (sorted, random among equal
    lengths, random batch order, seeded by ``seed`` and the epoch), each batch cut to its longest row."""

    def __init__(self, config: Config, dataset: SequentialDataset, shuffle: bool = True) -> None:
        uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        self.item_seq_field = iid + config["LIST_SUFFIX"]
        self.item_len_field = config["ITEM_LIST_LENGTH_FIELD"]
        width = config["MAX_ITEM_LIST_LENGTH"]
        feat = dataset.inter_feat
        users, lengths = feat[uid].numpy(), feat[self.item_len_field].numpy()
        histories, targets = feat[self.item_seq_field].numpy(), feat[iid].numpy()
        longest: dict[int, int] = {}
        for row, (user, length) in enumerate(zip(users, lengths)):
            if user not in longest or length > lengths[longest[user]]:
                longest[user] = row
        rows = np.fromiter(longest.values(), dtype=np.int64)
        self.items = np.zeros((len(rows), width), dtype=np.int64)
        self.lengths = np.zeros(len(rows), dtype=np.int64)
        for out, row in enumerate(rows):
            sequence = np.append(histories[row, : lengths[row]], targets[row])[-width:]
            self.items[out, : len(sequence)] = sequence
            self.lengths[out] = len(sequence)
        self.sample_size = len(rows)
        super().__init__(config, dataset, None, shuffle=shuffle)
        self._batches = self._plan_batches(0)

    def _init_batch_size_and_step(self):
        self.step = self.config["train_batch_size"]
        self.set_batch_size(self.step)

    _cut = LengthBucketedBatches._cut_every_step

    def collate_fn(self, index: np.ndarray) -> Interaction:
        longest = int(self.lengths[index].max())
        return Interaction({
            self.item_seq_field: torch.from_numpy(self.items[index, :longest]),
            self.item_len_field: torch.from_numpy(self.lengths[index]),
        })
