"""Recommend from a trained UniSRec checkpoint over a catalog that can change without retraining.

    from recbole_unisrec.serving import Recommender

    rec = Recommender.from_checkpoint("saved/UniSRec-....pth", catalog="Scientific")
    rec.recommend(["B00TNNWMXI", "B00IBZE2EQ"], k=10)      # -> RecommendationList
    rec.add_items([("NEW-1", "Digital caliper 150 mm, stainless steel.")])   # usable at once
    rec.remove_items(["B00TNNWMXI"])
    rec.recommend_batch([[...], [...]], k=10)

How it works. A checkpoint holds the model's weights and its plain config (text encoder, pooling,
sizes), never an item table: items are text. The model is rebuilt from that config alone (no
training data set is read). Each catalog item's text is encoded once, with the same frozen
language model the checkpoint was trained with, and passed through the MoE adaptor; the
resulting item vectors are kept, so a recommendation is one Transformer pass over the history
and one matrix product against the catalog (cosine similarity over the model's temperature, the
model's own score). Adding items encodes only the new texts; removing items encodes nothing.
Items with equal texts get bitwise equal vectors, items within a hair of the k-th score are
rescored in float64, and equal scores rank by catalog position, so a history gets the same
ranking alone (``recommend``) as in a batch (``recommend_batch``).

Modes. ``inductive_ft`` and ``pretrain`` checkpoints use text only, so every item is "text
only". A ``transductive_ft`` checkpoint adds a learned ID vector to items it was trained on;
items it has never seen (added later, or from another catalog) fall back to text only, and each
:class:`Recommendation` says which (``text_only``). Learned ID vectors are matched to catalog ids
by the raw item id: the checkpoint carries the id list when :func:`add_serving_info` ran after
training; an older checkpoint has it rebuilt from its data set's files where they still exist.

Bad input (an unknown item in a history, an empty history, an empty or duplicate catalog row, an
empty text, a checkpoint made with another text encoder than the one available here) raises
:class:`ServingError` (a ``ValueError``) with a one-line message; a failed ``add_items`` /
``remove_items`` leaves the catalog as it was.

The catalog file format is described in :mod:`~recbole_unisrec.serving.catalog`.

The modules, each importable on its own:

* :mod:`~recbole_unisrec.serving.recommender`: :class:`Recommender`;
* :mod:`~recbole_unisrec.serving.catalog`: catalog files, item rows, a data set's items and item tables;
* :mod:`~recbole_unisrec.serving.checkpoint_io`: the serving info written into a checkpoint after
  training, and a checkpoint read back into a model, its text encoder and its learned ID rows;
* :mod:`~recbole_unisrec.serving.item_vectors`: item vectors from texts (encoder, adaptor, ID vectors);
* :mod:`~recbole_unisrec.serving.scoring`: histories scored against the catalog;
* :mod:`~recbole_unisrec.serving.results` and :mod:`~recbole_unisrec.serving.errors`: what
  recommending returns and raises;
* :mod:`~recbole_unisrec.serving.recommend_command`: the histories file and the output of
  ``python -m recbole_unisrec recommend``.
"""
from __future__ import annotations

from recbole_unisrec.model.rebuild import _ItemCountOnly as _ItemCountOnly
from recbole_unisrec.model.rebuild import _PlainConfig as _PlainConfig
from recbole_unisrec.model.rebuild import build_model
from recbole_unisrec.serving.catalog import PAD_TOKEN, item_tokens_from_files, read_catalog
from recbole_unisrec.serving.checkpoint_io import (
    SERVING_INFO_VERSION,
    add_serving_info,
    check_encoder,
    checkpoint_encoder_spec,
    serving_info,
)
from recbole_unisrec.serving.errors import EncoderMismatchError, ServingError
from recbole_unisrec.serving.item_vectors import ADAPT_CHUNK
from recbole_unisrec.serving.recommend_command import read_histories
from recbole_unisrec.serving.recommender import Recommender
from recbole_unisrec.serving.results import Recommendation, RecommendationList
from recbole_unisrec.serving.scoring import RESCORE_MARGIN

__all__ = [
    "ADAPT_CHUNK",
    "PAD_TOKEN",
    "RESCORE_MARGIN",
    "SERVING_INFO_VERSION",
    "EncoderMismatchError",
    "Recommendation",
    "RecommendationList",
    "Recommender",
    "ServingError",
    "add_serving_info",
    "build_model",
    "check_encoder",
    "checkpoint_encoder_spec",
    "item_tokens_from_files",
    "read_catalog",
    "read_histories",
    "serving_info",
]
