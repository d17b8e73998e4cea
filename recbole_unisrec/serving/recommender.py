"""The :class:`Recommender`: a trained UniSRec over a changeable item catalog.

It holds the model, the catalog (ids, texts, item vectors) and one lock; the catalog files, the
checkpoint reading, the item vectors and the scoring it uses live beside it in
:mod:`~recbole_unisrec.serving.catalog`, :mod:`~recbole_unisrec.serving.checkpoint_io`,
:mod:`~recbole_unisrec.serving.item_vectors` and :mod:`~recbole_unisrec.serving.scoring`.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch

from recbole_unisrec.serving.catalog import CatalogSource, ItemRows, named_catalog, new_item_rows
from recbole_unisrec.serving.checkpoint_io import load_for_serving
from recbole_unisrec.serving.errors import ServingError
from recbole_unisrec.serving.item_vectors import new_item_vectors, with_room, without_rows
from recbole_unisrec.serving.results import Recommendation, RecommendationList
from recbole_unisrec.serving.scoring import top_items, torch_threads
from recbole_unisrec.text.encoder import EncoderSpec

if TYPE_CHECKING:
    from recbole_unisrec.model.unisrec import UniSRec


class Recommender:
    """A trained UniSRec over a changeable item catalog (see :mod:`recbole_unisrec.serving`).

    Build with :meth:`from_checkpoint`. Methods are safe to call from several threads (one lock).

    ``threads`` (default 1): torch's thread count while recommending, restored afterwards
    (``None``: leave torch's setting). One recommendation is small, memory-bound work (a short
    Transformer pass and one row-by-matrix product); on CPU, splitting it over OpenMP threads
    saves little and, on a machine whose cores are busy with other work, makes each step wait
    for a descheduled thread (measured here: median 92 ms with 2 threads against under 10 ms
    with 1). Large batches (``recommend_batch``) on idle cores gain from more threads.
    Encoding new items' texts uses torch's own setting.
    """

    def __init__(self, model: UniSRec, spec: EncoderSpec, learned_ids: dict[str, int] | None = None,
                 device: str = "cpu", checkpoint_path: str = "checkpoint", threads: int | None = 1) -> None:
        if threads is not None and int(threads) < 1:
            raise ServingError(f"threads must be a positive integer or None, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self.model = model
        self.text_spec = spec
        self.device = torch.device(device)
        self.checkpoint_path = checkpoint_path
        self.temperature = float(model.temperature)
        self.max_history = int(model.max_seq_length)
        self.plm_size = int(model.plm_size)
        self.hidden_size = int(model.hidden_size)
        self._learned = learned_ids if getattr(model, "train_stage", "") == "transductive_ft" and learned_ids else {}
        self._lock = threading.RLock()
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._row: dict[str, int] = {}
        self._text_row: dict[str, int] = {}  # text -> a text-only row with that text
        self._n = 0
        # Catalog buffers with spare capacity (see serving.item_vectors): rows >= self._n are
        # invisible until committed. Unit item vectors stored transposed, their norms, and
        # which items have no learned ID vector.
        self._unit_t = torch.zeros(self.hidden_size, 0, device=self.device)
        self._norm = torch.zeros(0, device=self.device)
        self._text_only = np.zeros(0, dtype=bool)

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, catalog: CatalogSource | None = None, *, dataset: str | None = None,
                        data_root: str | os.PathLike | None = None, text_encoder: str | None = None,
                        use_id_vectors: bool = True, device: str = "cpu", check_text_encoder: bool = True,
                        threads: int | None = 1) -> "Recommender":
        """Load a UniSRec checkpoint (pre-trained or fine-tuned) and, optionally, a catalog.

        ``catalog``: (item id, text) pairs, a mapping id -> text, a catalog TSV path, or a data
        set name under ``data_root`` (default: the shipped ``dataset/``); ``dataset=NAME`` says
        the latter explicitly. ``text_encoder`` overrides the encoder named in the checkpoint
        (a local copy of it); it must still be the same model. ``use_id_vectors=False`` serves a
        transductive checkpoint text only. ``threads``: torch threads while recommending (see
        :class:`Recommender`).
        """
        if dataset is not None and catalog is not None:
            raise ServingError("give either catalog or dataset, not both")
        path = str(path)
        model, spec, learned = load_for_serving(path, text_encoder, use_id_vectors, device, check_text_encoder)
        recommender = cls(model, spec, learned, device=device, checkpoint_path=path, threads=threads)
        source = dataset if dataset is not None else catalog
        if source is not None:
            recommender.load_catalog(source, data_root=data_root, as_dataset=dataset is not None)
        return recommender

    # ---- catalog ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._row

    @property
    def item_ids(self) -> list[str]:
        return list(self._ids)

    @property
    def mode(self) -> str:
        return "transductive" if self._learned else "text only"

    def text_of(self, item_id: str) -> str:
        row = self._row.get(str(item_id))
        if row is None:
            raise ServingError(f"item {item_id!r} is not in the catalog")
        return self._texts[row]

    def has_id_vector(self, item_id: str) -> bool:
        """Whether the item's vector includes a learned ID vector (else it is text only)."""
        row = self._row.get(str(item_id))
        if row is None:
            raise ServingError(f"item {item_id!r} is not in the catalog")
        return not bool(self._text_only[row])

    def item_vectors(self, item_ids: Iterable[str]) -> torch.Tensor:
        """The items' vectors as the model uses them, ``[len, hidden]``: ``adaptor(text)``, plus
        the learned ID vector where the item has one."""
        with self._lock:
            rows = self._history_rows(list(item_ids), "item_ids")
            index = torch.tensor(rows, dtype=torch.long, device=self.device)
            return (self._unit_t[:, index].T * self._norm[index].unsqueeze(-1)).clone()

    @property
    def nbytes(self) -> int:
        """Bytes held by the catalog's tensors (allocated capacity included)."""
        return self._unit_t.element_size() * self._unit_t.nelement() + self._norm.element_size() * self._norm.nelement()

    @property
    def capacity(self) -> int:
        """Items the catalog's tensors hold room for before they grow."""
        return int(self._unit_t.shape[1])

    def load_catalog(self, source: CatalogSource, data_root: str | os.PathLike | None = None, as_dataset: bool = False) -> int:
        """Add a whole catalog: pairs, a mapping, a catalog TSV, or a data set name. Returns rows added."""
        if isinstance(source, (str, os.PathLike)):
            rows, vectors = named_catalog(source, self.text_spec, data_root, as_dataset)
            return self.add_items(rows, vectors=vectors)
        return self.add_items(source)

    def add_items(self, items: ItemRows, vectors: np.ndarray | None = None) -> int:
        """Add items (id, text); usable in the next call. Returns the number added.

        ``vectors``: their text vectors ``[n, d]``, already encoded with the checkpoint's encoder
        (skips encoding; e.g. a data set's cached table). Any bad row: nothing is added.
        """
        rows = new_item_rows(items)
        with self._lock:
            clash = next((item_id for item_id, _ in rows if item_id in self._row), None)
            if clash is not None:
                raise ServingError(f"item {clash!r} is already in the catalog (remove it first to change its text)")
            if vectors is not None:
                vectors = np.asarray(vectors, dtype=np.float32)
                if vectors.shape != (len(rows), self.plm_size):
                    raise ServingError(f"vectors have shape {vectors.shape}, expected ({len(rows)}, {self.plm_size})")
            texts = [text for _, text in rows]
            learned_rows = [self._learned.get(item_id, 0) for item_id, _ in rows]
            unit_new, norm_new = new_item_vectors(
                self.model, texts, learned_rows, vectors, spec=self.text_spec, text_row=self._text_row,
                unit_t=self._unit_t, norm=self._norm, use_learned=bool(self._learned), hidden_size=self.hidden_size,
                device=self.device)
            start, stop = self._n, self._n + len(rows)
            unit_t, norm, text_only = with_room(self._unit_t, self._norm, self._text_only, start, stop)
            # rows >= self._n are not part of the catalog yet: writing them changes nothing visible
            unit_t[:, start:stop] = unit_new.T
            norm[start:stop] = norm_new
            text_only[start:stop] = [row == 0 for row in learned_rows]
            # commit: nothing below can fail on bad input
            self._unit_t, self._norm, self._text_only = unit_t, norm, text_only
            for offset, ((item_id, text), learned) in enumerate(zip(rows, learned_rows)):
                self._row[item_id] = start + offset
                if not learned:
                    self._text_row.setdefault(text, start + offset)
            self._ids.extend(item_id for item_id, _ in rows)
            self._texts.extend(texts)
            self._n = stop
        return len(rows)

    def remove_items(self, item_ids: Iterable[str]) -> int:
        """Remove items by id; none of them is recommended afterwards. Returns the number removed.

        An id that is not in the catalog, or given twice: nothing is removed.
        """
        if isinstance(item_ids, (str, bytes)):
            item_ids = item_ids.split()
        item_ids = [str(item_id) for item_id in item_ids]
        if not item_ids:
            raise ServingError("no items to remove")
        with self._lock:
            rows = []
            seen = set()
            for item_id in item_ids:
                if item_id in seen:
                    raise ServingError(f"item {item_id!r} is listed twice for removal")
                seen.add(item_id)
                row = self._row.get(item_id)
                if row is None:
                    raise ServingError(f"cannot remove item {item_id!r}: not in the catalog")
                rows.append(row)
            keep, unit_t, norm, text_only = without_rows(self._unit_t, self._norm, self._text_only, self._n, rows)
            ids = [item_id for item_id, kept in zip(self._ids, keep) if kept]
            texts = [text for text, kept in zip(self._texts, keep) if kept]
            # commit
            self._unit_t, self._norm, self._text_only = unit_t, norm, text_only
            self._ids, self._texts = ids, texts
            self._row = {item_id: row for row, item_id in enumerate(ids)}
            self._text_row = {}
            for row in np.flatnonzero(text_only):
                self._text_row.setdefault(texts[row], int(row))
            self._n = len(ids)
        return len(rows)

    # ---- recommending -----------------------------------------------------------------------

    def _history_rows(self, history, label: str = "history") -> list[int]:
        if isinstance(history, str):
            history = history.split()
        try:
            history = [str(item_id) for item_id in history]
        except TypeError:
            raise ServingError(f"{label}: expected a list of item ids, got {history!r:.80}") from None
        if not history:
            raise ServingError(f"{label} is empty: give at least one item id")
        rows = []
        for item_id in history:
            row = self._row.get(item_id)
            if row is None:
                raise ServingError(f"{label}: item {item_id!r} is not in the catalog")
            rows.append(row)
        return rows

    def recommend(self, history: Sequence[str] | str, k: int = 10, exclude_history: bool = True) -> RecommendationList:
        """The ``k`` best catalog items after ``history`` (item ids, oldest first; a string is
        split on whitespace). ``exclude_history``: never recommend an item of the history."""
        return self._recommend([history], k, exclude_history, labels=["history"])[0]

    def recommend_batch(self, histories: Sequence[Sequence[str] | str], k: int = 10, exclude_history: bool = True,
                        batch_size: int = 256, labels: Sequence[str] | None = None) -> list[RecommendationList]:
        """:meth:`recommend` for many histories; same results, computed ``batch_size`` at a time.

        Every history is checked before any is scored. ``labels``: how error messages name each
        history (default ``history <position>``).
        """
        histories = list(histories)
        if labels is not None and len(labels) != len(histories):
            raise ServingError(f"{len(labels)} labels for {len(histories)} histories")
        if not histories:
            return []
        return self._recommend(histories, k, exclude_history, batch_size=batch_size, labels=labels)

    def _recommend(self, histories, k, exclude_history, batch_size=256, labels=None) -> list[RecommendationList]:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ServingError(f"k must be a positive integer, got {k!r}")
        if int(batch_size) < 1:
            raise ServingError(f"batch_size must be positive, got {batch_size!r}")
        with self._lock:
            if self._n == 0:
                raise ServingError("the catalog is empty: add items first")
            labels = labels or [f"history {i}" for i in range(len(histories))]
            all_rows = [self._history_rows(h, label) for h, label in zip(histories, labels)]
            results = []
            with torch_threads(self.threads):
                for start in range(0, len(all_rows), int(batch_size)):
                    results.extend(self._score_batch(all_rows[start:start + int(batch_size)], int(k), exclude_history))
            return results

    def _score_batch(self, batch_rows: list[list[int]], k: int, exclude_history: bool) -> list[RecommendationList]:
        ranked = top_items(self.model, self._unit_t[:, :self._n], self._norm, batch_rows, k, exclude_history,
                           self.max_history, self.temperature, self.device)
        results = []
        for rows, (items, scores) in zip(batch_rows, ranked):
            found = tuple(Recommendation(self._ids[row], float(score), self._texts[row], bool(self._text_only[row]))
                          for row, score in zip(items, scores))
            history_text_only = tuple(self._ids[row] for row in dict.fromkeys(rows) if self._text_only[row]) if self._learned else ()
            results.append(RecommendationList(found, history_text_only))
        return results
