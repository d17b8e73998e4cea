"""RecBole datasets over the project's layout, with the item text vectors attached.

* :class:`AtomicSequentialDataset` – any RecBole sequential model (the baselines) on a shipped
  data set: unpacks the gzipped ``.inter`` files, then behaves as RecBole's own, except that
  ``train_user_fraction`` < 1 keeps the training rows of a sample of the users only.
* :class:`UniSRecDataset` – adds ``plm_embedding``: a frozen ``nn.Embedding`` of the item text
  vectors aligned with RecBole's internal item ids (row 0 is the zero padding row), and
  ``word_drop_embedding``, the word-dropped copy used for augmentation (encoded on first use).
* :class:`MultiDomainDataset` – a pre-training corpus; also keeps each item's domain.
"""
from __future__ import annotations

from functools import cached_property
from logging import getLogger
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from recbole.data.dataset import SequentialDataset

from recbole_unisrec.data.corpus import read_domains
from recbole_unisrec.data.layout import ensure_unpacked, read_item_tokens
from recbole_unisrec.fileio import DataFormatError
from recbole_unisrec.text.cache import text_vectors
from recbole_unisrec.text.encoder import EncoderSpec

if TYPE_CHECKING:
    from recbole.config import Config


class AtomicSequentialDataset(SequentialDataset):
    def __init__(self, config: Config) -> None:
        ensure_unpacked(config["data_path"], config["dataset"])
        super().__init__(config)
        self._keep_last_items(config["MAX_ITEM_LIST_LENGTH"])

    def _keep_last_items(self, max_length: int) -> None:
        """Histories longer than ``MAX_ITEM_LIST_LENGTH`` keep their last items, left-aligned.

        The files hold up to 50 items; RecBole's own ``seq_len`` would keep the first ones."""
        seq_field = self.config["ITEM_ID_FIELD"] + self.config["LIST_SUFFIX"]
        len_field = self.config["ITEM_LIST_LENGTH_FIELD"]
        feat = self.inter_feat  # still a DataFrame of per-row arrays until build()
        if int(feat[len_field].max()) <= max_length:
            return
        feat[seq_field] = [items[:length][-max_length:] for items, length in zip(feat[seq_field], feat[len_field])]
        feat[len_field] = feat[len_field].clip(upper=max_length)
        self.field2seqlen[seq_field] = max_length

    def build(self) -> list[SequentialDataset]:
        """RecBole's split by the files; with ``train_user_fraction`` < 1 the training split keeps
        only the rows of a sample of its users (:func:`sampled_users`), while validation and test
        keep every user: a domain with less training data, evaluated on the same users."""
        built = super().build()
        fraction = self.config["train_user_fraction"]
        if fraction is None or float(fraction) == 1.0:
            return built
        train = built[0]
        users = train.inter_feat[self.uid_field]
        tokens = self.field2id_token[self.uid_field]
        kept_ids = sampled_users(sorted(tokens[int(u)] for u in users.unique()), float(fraction),
                                 int(self.config["train_user_seed"] or 0))
        kept = torch.zeros(len(tokens), dtype=torch.bool)
        kept[[self.field2token_id[self.uid_field][token] for token in kept_ids]] = True
        built[0] = train.copy(train.inter_feat[kept[users]])
        getLogger().info(f"train_user_fraction={fraction}: training on {len(built[0])} of {len(train)} rows, "
                         f"{len(kept_ids)} users")
        return built


def sampled_users(user_tokens: list[str], fraction: float, seed: int) -> list[str]:
    """``round(fraction * n)`` of ``user_tokens`` (at least one), drawn without replacement by
    ``seed``: the same users for every model and model seed, so that rows compare like with like."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_user_fraction must be in (0, 1], got {fraction}")
    count = max(1, round(fraction * len(user_tokens)))
    chosen = np.random.default_rng(seed).choice(len(user_tokens), size=count, replace=False)
    return [user_tokens[i] for i in sorted(chosen)]


def encoder_spec_from_config(config: Config) -> EncoderSpec:
    """The text encoder a run uses, from the ``text_*`` keys of ``props/UniSRec.yaml``; it encodes
    (once, then cached) on the run's device, so a GPU run does not encode on the CPU."""
    defaults = EncoderSpec()
    return EncoderSpec(
        model=config["text_encoder"] or defaults.model,
        pooling=config["text_pooling"] or defaults.pooling,
        max_length=config["text_max_length"] or defaults.max_length,
        batch_size=config["text_batch_size"] or defaults.batch_size,
        device=str(config["device"] or defaults.device),
    )


class UniSRecDataset(AtomicSequentialDataset):
    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.text_spec = encoder_spec_from_config(config)
        self.plm_embedding = self._text_embedding(word_drop_ratio=0.0)
        self.plm_size = self.plm_embedding.embedding_dim

    @cached_property
    def word_drop_embedding(self) -> torch.nn.Embedding:
        """Vectors of the word-dropped item texts (``word_drop_ratio``, seeded by ``seed``)."""
        ratio = self.config["word_drop_ratio"]
        if ratio is None:
            ratio = 0.15
        return self._text_embedding(word_drop_ratio=float(ratio))

    def _text_embedding(self, word_drop_ratio: float) -> torch.nn.Embedding:
        folder = Path(self.config["data_path"])
        name = self.config["dataset"]
        table = text_vectors(
            folder.parent, name, self.text_spec, word_drop_ratio=word_drop_ratio, seed=int(self.config["seed"])
        )
        tokens = read_item_tokens(folder, name)
        if table.ndim != 2 or table.shape[0] != len(tokens):
            raise DataFormatError(
                folder / f"{name}.item2index",
                f"text vectors have shape {tuple(table.shape)} but the data set has {len(tokens)} items",
            )
        row_of = {token: row for row, token in enumerate(tokens)}
        internal_tokens = self.field2id_token[self.iid_field][1:]
        missing = [token for token in internal_tokens if token not in row_of]
        if missing:
            raise DataFormatError(
                folder / f"{name}.item2index", f"{len(missing)} items of the .inter files have no row, e.g. {missing[0]!r}"
            )
        weight = torch.zeros(len(internal_tokens) + 1, table.shape[1], dtype=torch.float32)
        weight[1:] = torch.from_numpy(np.ascontiguousarray(table[[row_of[t] for t in internal_tokens]]))
        return torch.nn.Embedding.from_pretrained(weight, freeze=True, padding_idx=0)

    def build(self) -> list[SequentialDataset]:
        """RecBole's split; validation and test rows are sorted by history length, so that each
        evaluation batch is padded only to its own longest history (metrics do not depend on order)."""
        built = super().build()
        for split in built[1:]:
            split.sort(by=self.config["ITEM_LIST_LENGTH_FIELD"])
        return built

    def check_vector_size(self, expected: int, source: str) -> None:
        """Raise a clear error if a model built for ``expected``-d text vectors meets these."""
        if expected != self.plm_size:
            raise ValueError(
                f"{source} expects {expected}-d text vectors, but {self.config['dataset']}'s vectors from "
                f"{self.text_spec.model!r} are {self.plm_size}-d: use the same text encoder"
            )


class MultiDomainDataset(UniSRecDataset):
    """A corpus built by ``recbole_unisrec.data.corpus``: item tokens are ``<d>-<index>``."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        folder = Path(config["data_path"])
        name = config["dataset"]
        has_domains = (folder / f"{name}.domains").is_file()
        self.domain_names = [domain for domain, _ in read_domains(folder, name)] if has_domains else [name]
        if len(self.domain_names) == 1:
            getLogger().warning(f"{config['dataset']} has a single domain: pre-training will not mix domains")
        domain_of = [-1]
        for token in self.field2id_token[self.iid_field][1:]:
            prefix, _, _ = token.partition("-")
            domain_of.append(int(prefix) if prefix.isdigit() else 0)
        self.item_domain = torch.tensor(domain_of, dtype=torch.long)
