"""Packed-row training for RecBole's causal sequential models: SASRec and FDSAText.

:class:`~recbole_unisrec.data.dataloader.PackedTrainDataLoader` gives one row per user history
with the next item of every position in ``target_item_list``. A model whose encoder is causal
scores position ``t`` of that row exactly as RecBole scores the prefix row of length ``t + 1``,
so the cross-entropy over all targeted positions equals the mean over RecBole's prefix rows
(``tests/unit/baselines/test_packed_baselines.py``), at a fraction of the work: a history of
``n`` items is encoded once instead of ``n - 1`` times.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from recbole.model.sequential_recommender.sasrec import SASRec as RecBoleSASRec

from recbole_unisrec.data.dataloader import TARGETS_FIELD

if TYPE_CHECKING:
    from recbole.data.interaction import Interaction


class AllPositionsMixin:
    """Trains a RecBole sequential model on packed rows when the batch carries targets per position.

    It fits a model whose ``forward(item_seq, item_seq_len)`` runs a causal encoder, picks the
    last position with ``self.gather_indexes`` and applies only position-wise layers after it,
    and whose CE loss scores ``item_embedding.weight``, as RecBole's SASRec and FDSA do.
    RecBole's ``forward`` is reused as it is: while :meth:`all_position_outputs` runs,
    ``gather_indexes`` returns every position instead of picking one, so no copy of RecBole's
    forward has to follow its releases. Batches without targets per position (the stock loader)
    take RecBole's own ``calculate_loss``.
    """

    _keep_all_positions = False

    def gather_indexes(self, output: torch.Tensor, gather_index: torch.Tensor) -> torch.Tensor:
        if self._keep_all_positions:
            return output
        return super().gather_indexes(output, gather_index)

    def all_position_outputs(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B, L, hidden]``: the sequence representation after every position."""
        self._keep_all_positions = True
        try:
            return self.forward(item_seq, item_seq_len)
        finally:
            self._keep_all_positions = False

    def calculate_loss(self, interaction: Interaction) -> torch.Tensor:
        if TARGETS_FIELD not in interaction:
            return super().calculate_loss(interaction)
        targets = interaction[TARGETS_FIELD]
        has_target = targets > 0
        outputs = self.all_position_outputs(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])[has_target]
        logits = outputs @ self.item_embedding.weight.T
        return self.loss_fct(logits, targets[has_target])


class SASRec(AllPositionsMixin, RecBoleSASRec):
    """RecBole's SASRec, unchanged, that also trains on packed rows (``packed_training: True``)."""
