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

Catalog file (TSV, UTF-8): one item per line, ``item_id<TAB>text``; the first line may be a
header ``item_id<TAB>text`` (``item_id:token<TAB>text:token_seq``, the header of a data set's
``<Name>.text`` file, works too). Item ids hold no whitespace; texts may not be empty; every id
appears once; blank lines are errors.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recbole_unisrec.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
from recbole_unisrec.fileio import DataFormatError, atomic_write, read_lines
from recbole_unisrec.text.encoder import EncoderSpec, ModelLoadError

PAD_TOKEN = "[PAD]"
SERVING_INFO_VERSION = 1
#: Rows per adaptor pass when item vectors are computed (bounds the temporary memory).
ADAPT_CHUNK = 4096
#: Items scoring within this much (logit units) of the k-th best are rescored exactly; far above
#: float32's error on a cosine / temperature (about 1e-5).
RESCORE_MARGIN = 1e-3


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """Run with ``threads`` torch threads (``None``: as set), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ServingError(ValueError):
    """Bad input to the recommender; the message is one line."""


class EncoderMismatchError(ServingError):
    """The checkpoint's text encoder is not the one available here."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recommendation:
    """One recommended item. ``score``: cosine similarity / temperature (the model's logit).
    ``text_only``: the item has no learned ID vector (always true for a text-only model)."""

    item_id: str
    score: float
    text: str
    text_only: bool


@dataclass(frozen=True)
class RecommendationList(Sequence):
    """The ranked items for one history (best first), and which history items were text only."""

    items: tuple[Recommendation, ...]
    history_text_only: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]

    @property
    def ids(self) -> list[str]:
        return [item.item_id for item in self.items]

    @property
    def scores(self) -> list[float]:
        return [item.score for item in self.items]


# --------------------------------------------------------------------------------------------
# Catalogs
# --------------------------------------------------------------------------------------------

_HEADER_NAMES = ("item_id", "text")


def read_catalog(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(item_id, text)`` rows of a catalog TSV (see the module docstring for the format).

    Raises :class:`DataFormatError` naming file and line for a malformed, empty or duplicate row.
    """
    path = Path(path)
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        fields = line.split("\t", 1)
        if number == 1 and tuple(f.split(":", 1)[0].strip().lower() for f in fields) == _HEADER_NAMES:
            continue
        if not line.strip():
            raise DataFormatError(path, "empty row (expected 'item_id<TAB>text')", number)
        if len(fields) != 2:
            raise DataFormatError(path, f"expected 'item_id<TAB>text', got {line[:80]!r}", number)
        item_id, text = fields[0].strip(), fields[1].strip()
        problem = _row_problem(item_id, text)
        if problem:
            raise DataFormatError(path, problem, number)
        if item_id in seen:
            raise DataFormatError(path, f"duplicate item id {item_id!r} (first on line {seen[item_id]})", number)
        seen[item_id] = number
        rows.append((item_id, text))
    if not rows:
        raise DataFormatError(path, "no items")
    return rows


def _row_problem(item_id: str, text: str) -> str | None:
    if not item_id:
        return "empty item id"
    if any(ch.isspace() for ch in item_id):
        return f"item id {item_id[:50]!r} contains whitespace"
    if not text:
        return f"item {item_id!r} has an empty text"
    return None


def _as_rows(items: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    """Normalise (id, text) pairs or a mapping; each problem is a one-line :class:`ServingError`."""
    if isinstance(items, (str, bytes)):
        raise ServingError("items must be (item id, text) pairs or a mapping of id to text, not a string")
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = []
    for position, pair in enumerate(pairs):
        try:
            item_id, text = pair
        except (TypeError, ValueError):
            raise ServingError(f"item row {position}: expected an (item id, text) pair, got {pair!r:.80}") from None
        if item_id is None or text is None:
            raise ServingError(f"item row {position}: empty row {pair!r:.80}")
        item_id, text = str(item_id).strip(), " ".join(str(text).split())
        problem = _row_problem(item_id, text)
        if problem:
            raise ServingError(f"item row {position}: {problem}")
        rows.append((item_id, text))
    return rows


# --------------------------------------------------------------------------------------------
# What a checkpoint must carry for serving
# --------------------------------------------------------------------------------------------

def serving_info(dataset) -> dict[str, Any]:
    """What serving needs to know about a trained model's data set, as plain values.

    ``item_tokens``: the ``.inter`` token of every RecBole internal item id (index 0 is padding);
    ``item_ids``: the raw item id of each (from ``<Name>.item2index``; ``None`` where a token has
    no raw id, e.g. a multi-domain corpus); ``text_encoder``: model name, content identity,
    pooling, max length and vector width of the language model the data set was encoded with.
    """
    tokens = [str(token) for token in dataset.field2id_token[dataset.iid_field]]
    info: dict[str, Any] = {"serving_info_version": SERVING_INFO_VERSION, "item_tokens": tokens}
    folder, name = Path(dataset.config["data_path"]), dataset.config["dataset"]
    raw_of = _token_to_raw(folder, name)
    if raw_of:
        info["item_ids"] = [PAD_TOKEN] + [raw_of.get(token) for token in tokens[1:]]
    spec = getattr(dataset, "text_spec", None)
    if spec is not None:
        from recbole_unisrec.text.encoder import model_identity

        info["text_encoder"] = {
            "model": spec.model,
            "identity": model_identity(spec.model),
            "pooling": spec.pooling,
            "max_length": int(spec.max_length),
            "dim": int(getattr(dataset, "plm_size", 0)) or None,
        }
    return info


def add_serving_info(checkpoint_path: str | os.PathLike, dataset, missing_ok: bool = False) -> None:
    """Add :func:`serving_info` of ``dataset`` to a saved checkpoint (rewritten atomically).

    Called once after training (``quick_start.run``), so the checkpoint maps its learned ID
    vectors back to raw item ids and names its text encoder's exact identity. ``missing_ok``:
    do nothing where no checkpoint was written.
    """
    if missing_ok and not os.path.isfile(checkpoint_path):
        return
    checkpoint = load_checkpoint(checkpoint_path)
    checkpoint.update(serving_info(dataset))
    with atomic_write(checkpoint_path, "wb") as handle:
        torch.save(checkpoint, handle)


def _token_to_raw(folder: Path, name: str) -> dict[str, str]:
    path = folder / f"{name}.item2index"
    if not path.is_file():
        return {}
    mapping = {}
    for _, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) == 2 and fields[0] and fields[1]:
            mapping[fields[1]] = fields[0]
    return mapping


def item_tokens_from_files(folder: str | os.PathLike, name: str) -> list[str]:
    """RecBole's internal item id order rebuilt from a data set's ``.inter`` files.

    RecBole (``Dataset._remap``) factorizes the item tokens of the train, valid and test files
    concatenated, first the ``item_id`` column, then the ``item_id_list`` column, in order of first
    appearance, after ``[PAD]``. Used only for checkpoints saved without ``item_tokens``.
    """
    folder = Path(folder)
    targets: list[str] = []
    lists: list[str] = []
    for split in ("train", "valid", "test"):
        plain = folder / f"{name}.{split}.inter"
        path = plain if plain.is_file() else plain.with_name(plain.name + ".gz")
        opener = gzip.open if path.suffix == ".gz" else open
        if not path.is_file():
            raise FileNotFoundError(f"{plain} not found")
        with opener(path, "rt", encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split("\t")
            names = [column.split(":", 1)[0] for column in header]
            try:
                target_col, list_col = names.index("item_id"), names.index("item_id_list")
            except ValueError:
                raise DataFormatError(path, "header has no item_id and item_id_list columns", 1) from None
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(names):
                    continue
                targets.append(fields[target_col])
                lists.extend(fields[list_col].split(" ") if fields[list_col] else [])
    seen = dict.fromkeys(targets + lists)
    return [PAD_TOKEN, *seen]


def _learned_ids(checkpoint: dict[str, Any], config: dict[str, Any], n_rows: int, path: str) -> dict[str, int]:
    """Raw item id -> row of the checkpoint's ID embedding."""
    item_ids = checkpoint.get("item_ids")
    if not item_ids:
        tokens = checkpoint.get("item_tokens")
        folder, name = Path(str(config.get("data_path", ""))), str(config.get("dataset", ""))
        try:
            if not tokens:
                tokens = item_tokens_from_files(folder, name)
            raw_of = _token_to_raw(folder, name)
        except (OSError, ValueError) as error:
            raise CheckpointError(
                f"{path}: transductive checkpoint without its item id list, and its data set cannot be read "
                f"({str(error).splitlines()[0]}); pass use_id_vectors=False to serve it text only"
            ) from None
        if not raw_of:
            raise CheckpointError(
                f"{path}: transductive checkpoint without its item id list, and {folder / (name + '.item2index')} "
                "is not there; pass use_id_vectors=False to serve it text only"
            )
        item_ids = [PAD_TOKEN] + [raw_of.get(token) for token in tokens[1:]]
    if len(item_ids) != n_rows:
        raise CheckpointError(
            f"{path}: the item id list has {len(item_ids)} entries but the ID embedding has {n_rows} rows"
        )
    return {str(raw): row for row, raw in enumerate(item_ids) if row > 0 and raw is not None}


# --------------------------------------------------------------------------------------------
# The model, rebuilt without a data set
# --------------------------------------------------------------------------------------------

class _ItemCountOnly:
    """What ``UniSRec.__init__`` reads from a data set: the item count and the text width."""

    def __init__(self, n_items: int, plm_size: int):
        self.n_items = n_items
        self.plm_embedding = SimpleNamespace(weight=torch.zeros(1, plm_size))

    def num(self, field: str) -> int:
        return self.n_items


class _PlainConfig(dict):
    """A checkpoint's plain config read like RecBole's Config: a missing key is ``None``."""

    def __getitem__(self, key):
        return self.get(key)


def build_model(state_dict: dict[str, torch.Tensor], config: dict[str, Any], device: str = "cpu"):
    """A :class:`~recbole_unisrec.model.UniSRec` in eval mode, from weights and a plain config."""
    from recbole_unisrec.model import UniSRec

    try:
        plm_size = int(state_dict["moe_adaptor.experts.0.bias"].shape[0])
    except KeyError:
        raise CheckpointError("checkpoint has no MoE adaptor weights (moe_adaptor.experts.0.bias)") from None
    n_items = int(state_dict["item_embedding.weight"].shape[0]) if "item_embedding.weight" in state_dict else 1
    config = _PlainConfig(config, device=device)
    config.setdefault("LIST_SUFFIX", "_list")
    config.setdefault("NEG_PREFIX", "neg_")
    config.setdefault("ITEM_LIST_LENGTH_FIELD", "item_length")
    with torch.random.fork_rng():  # building initialises weights; keep the caller's RNG as it was
        model = UniSRec(config, _ItemCountOnly(n_items, plm_size))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint weights do not fit its config: {str(error).splitlines()[0]} ...") from None
    model.text_vectors = torch.zeros(0, plm_size)  # the catalog's vectors live in the Recommender
    return model.to(device).eval()


def checkpoint_encoder_spec(checkpoint: dict[str, Any], config: dict[str, Any], text_encoder: str | None = None) -> EncoderSpec:
    """The text encoder a checkpoint's vectors come from (``text_encoder`` names a local copy of it)."""
    recorded = checkpoint.get("text_encoder") if isinstance(checkpoint.get("text_encoder"), dict) else {}
    defaults = EncoderSpec()
    return EncoderSpec(
        model=text_encoder or recorded.get("model") or config.get("text_encoder") or defaults.model,
        pooling=recorded.get("pooling") or config.get("text_pooling") or defaults.pooling,
        max_length=int(recorded.get("max_length") or config.get("text_max_length") or defaults.max_length),
        batch_size=int(config.get("text_batch_size") or defaults.batch_size),
    )


def check_encoder(checkpoint: dict[str, Any], config: dict[str, Any], spec: EncoderSpec, plm_size: int,
                  path: str = "checkpoint") -> None:
    """The text encoder available here is the one the checkpoint was trained with, else one line."""
    from recbole_unisrec.text.encoder import is_imported, model_identity, vector_size

    recorded = checkpoint.get("text_encoder") if isinstance(checkpoint.get("text_encoder"), dict) else {}
    trained_with = recorded.get("model") or config.get("text_encoder") or "default"
    try:
        identity = model_identity(spec.model)
        size = None if is_imported(spec.model) else vector_size(spec)  # imported: checked against the table
    except ModelLoadError as error:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r}, which is not available here "
            f"({str(error).splitlines()[0]})"
        ) from None
    if recorded.get("identity") and recorded["identity"] != identity:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r} (identity {recorded['identity']}), but "
            f"{spec.model!r} here is a different model (identity {identity}); use the checkpoint's encoder"
        )
    if not recorded.get("identity") and spec.model != trained_with:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r}, not {spec.model!r}, and records no identity "
            f"to prove them the same; use text_encoder={trained_with!r}"
        )
    if size is not None and size != plm_size:
        raise EncoderMismatchError(
            f"{path}: trained on {plm_size}-d text vectors, but text encoder {spec.model!r} gives {size}-d vectors"
        )


# --------------------------------------------------------------------------------------------
# The recommender
# --------------------------------------------------------------------------------------------

class Recommender:
    """A trained UniSRec over a changeable item catalog (see the module docstring).

    Build with :meth:`from_checkpoint`. Methods are safe to call from several threads (one lock).

    ``threads`` (default 1): torch's thread count while recommending, restored afterwards
    (``None``: leave torch's setting). One recommendation is small, memory-bound work (a short
    Transformer pass and one row-by-matrix product); on CPU, splitting it over OpenMP threads
    saves little and, on a machine whose cores are busy with other work, makes each step wait
    for a descheduled thread (measured here: median 92 ms with 2 threads against under 10 ms
    with 1). Large batches (``recommend_batch``) on idle cores gain from more threads.
    Encoding new items' texts uses torch's own setting.
    """

    def __init__(self, model, spec: EncoderSpec, learned_ids: dict[str, int] | None = None,
                 device: str = "cpu", checkpoint_path: str = "checkpoint", threads: int | None = 1):
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
        # Catalog buffers with spare capacity: rows >= self._n are invisible until committed.
        # Item vectors as unit vectors, stored transposed ([hidden, capacity]: a query against the
        # catalog is then a row-by-matrix product over contiguous rows, about 2x faster than
        # against [capacity, hidden] on CPU), and their norms (an item's vector as the
        # Transformer reads it in a history is unit * norm).
        self._unit_t = torch.zeros(self.hidden_size, 0, device=self.device)
        self._norm = torch.zeros(0, device=self.device)
        self._text_only = np.zeros(0, dtype=bool)

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, catalog=None, *, dataset: str | None = None,
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
        checkpoint = load_checkpoint(path)
        config = checkpoint_config(checkpoint)
        if config.get("model") not in (None, "UniSRec"):
            raise CheckpointError(f"{path}: a {config.get('model')} checkpoint; only UniSRec checkpoints can serve new items")
        for key in ("hidden_size", "n_layers", "n_heads", "inner_size", "MAX_ITEM_LIST_LENGTH", "train_stage"):
            if key not in config:
                raise CheckpointError(f"{path}: checkpoint config lacks {key!r}; not a UniSRec checkpoint of this project")
        state = checkpoint["state_dict"]
        model = build_model(state, config, device)
        spec = checkpoint_encoder_spec(checkpoint, config, text_encoder)
        if check_text_encoder:
            check_encoder(checkpoint, config, spec, model.plm_size, path)
        learned = None
        if use_id_vectors and model.train_stage == "transductive_ft":
            learned = _learned_ids(checkpoint, config, int(state["item_embedding.weight"].shape[0]), path)
        recommender = cls(model, spec, learned, device=device, checkpoint_path=path, threads=threads)
        source = dataset if dataset is not None else catalog
        if source is not None:
            recommender.load_catalog(source, data_root=data_root, as_dataset=dataset is not None)
        return recommender

    # ---- catalog ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __contains__(self, item_id) -> bool:
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

    def load_catalog(self, source, data_root: str | os.PathLike | None = None, as_dataset: bool = False) -> int:
        """Add a whole catalog: pairs, a mapping, a catalog TSV, or a data set name. Returns rows added."""
        if isinstance(source, (str, os.PathLike)):
            from recbole_unisrec.data.layout import SHIPPED_DATA, known_datasets

            root = Path(data_root) if data_root is not None else SHIPPED_DATA
            name = str(source)
            if not as_dataset and Path(name).is_file():
                return self.add_items(read_catalog(name))
            if (root / name / f"{name}.item2index").is_file():
                return self._add_dataset(root, name)
            what = f"data set {name!r} under {root}" if as_dataset else f"catalog file {name!r} (or a data set {name!r} under {root})"
            raise ServingError(f"no {what}; data sets there: {', '.join(known_datasets(root)) or 'none'}")
        return self.add_items(source)

    def _add_dataset(self, root: Path, name: str) -> int:
        from recbole_unisrec.text.cache import read_item_texts, text_vectors

        ids, texts = read_item_texts(root / name, name)
        try:
            vectors = text_vectors(root, name, self.text_spec, show_progress=False)  # cached beside the data
        except ModelLoadError as error:
            raise EncoderMismatchError(f"cannot encode the texts of {name}: {str(error).splitlines()[0]}") from None
        return self.add_items(list(zip(ids, texts)), vectors=np.asarray(vectors))

    def add_items(self, items: Iterable[tuple[str, str]] | Mapping[str, str], vectors: np.ndarray | None = None) -> int:
        """Add items (id, text); usable in the next call. Returns the number added.

        ``vectors``: their text vectors ``[n, d]``, already encoded with the checkpoint's encoder
        (skips encoding; e.g. a data set's cached table). Any bad row: nothing is added.
        """
        rows = _as_rows(items)
        if not rows:
            raise ServingError("no items to add")
        seen: dict[str, int] = {}
        for position, (item_id, _) in enumerate(rows):
            if item_id in seen:
                raise ServingError(f"item row {position}: duplicate item id {item_id!r} (also row {seen[item_id]})")
            seen[item_id] = position
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
            unit_new, norm_new = self._item_vectors_for(texts, learned_rows, vectors)
            start, stop = self._n, self._n + len(rows)
            unit_t, norm, text_only = self._unit_t, self._norm, self._text_only
            if stop > unit_t.shape[1]:  # grow by a quarter at least, so adding often stays cheap
                capacity = max(stop, int(unit_t.shape[1] * 1.25), 1024)
                unit_t = torch.empty(self.hidden_size, capacity, device=self.device)
                unit_t[:, :start] = self._unit_t[:, :start]
                norm = torch.empty(capacity, device=self.device)
                norm[:start] = self._norm[:start]
                text_only = np.zeros(capacity, dtype=bool)
                text_only[:start] = self._text_only[:start]
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
            keep = np.ones(self._n, dtype=bool)
            keep[rows] = False
            keep_index = torch.from_numpy(np.flatnonzero(keep)).to(self.device)
            unit_t = self._unit_t[:, keep_index].contiguous()
            norm = self._norm[keep_index].clone()
            text_only = self._text_only[: self._n][keep].copy()
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

    def _encode(self, texts: list[str]) -> np.ndarray:
        from recbole_unisrec.text.encoder import encode_texts

        unique = list(dict.fromkeys(texts))
        try:
            encoded = encode_texts(unique, self.text_spec)
        except ModelLoadError as error:
            raise EncoderMismatchError(f"cannot encode item texts: {str(error).splitlines()[0]}") from None
        if len(unique) == len(texts):
            return encoded
        where = {text: row for row, text in enumerate(unique)}
        return encoded[[where[text] for text in texts]]

    @torch.inference_mode()
    def _item_vectors_for(self, texts: list[str], learned_rows: list[int],
                          vectors: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit vectors ``[m, hidden]`` and norms ``[m]`` of new items, as the model builds them:
        ``adaptor(text vector)``, plus the learned ID vector where ``learned_rows`` is not 0.

        Equal texts get bitwise equal vectors (so equal scores): a text-only item whose text is
        in the catalog already copies that item's vector, and each other distinct text is encoded
        (unless ``vectors`` are given: its first row's vector is used) and adapted once.
        """
        m = len(texts)
        unit = torch.empty(m, self.hidden_size, device=self.device)
        norm = torch.empty(m, device=self.device)
        reuse_at, reuse_from = [], []
        compute_at, distinct_of = [], []      # positions to compute, and the distinct text of each
        first_position: dict[str, int] = {}   # distinct text -> the first position that has it
        index_of: dict[str, int] = {}
        for position, (text, learned) in enumerate(zip(texts, learned_rows)):
            row = None if learned else self._text_row.get(text)
            if row is not None:
                reuse_at.append(position)
                reuse_from.append(row)
                continue
            if text not in index_of:
                index_of[text] = len(index_of)
                first_position[text] = position
            compute_at.append(position)
            distinct_of.append(index_of[text])
        if reuse_at:
            source = torch.tensor(reuse_from, dtype=torch.long, device=self.device)
            at = torch.tensor(reuse_at, dtype=torch.long, device=self.device)
            unit[at] = self._unit_t[:, source].T
            norm[at] = self._norm[source]
        if compute_at:
            distinct = list(index_of)
            if vectors is None:
                text_vectors = self._encode(distinct)
            else:
                text_vectors = vectors[[first_position[text] for text in distinct]]
            adapted = torch.empty(len(distinct), self.hidden_size, device=self.device)
            for begin in range(0, len(distinct), ADAPT_CHUNK):
                chunk = torch.from_numpy(np.array(text_vectors[begin:begin + ADAPT_CHUNK], dtype=np.float32))
                adapted[begin:begin + len(chunk)] = self.model.moe_adaptor(chunk.to(self.device))
            full = adapted[torch.tensor(distinct_of, dtype=torch.long, device=self.device)]
            if self._learned:
                ids = torch.tensor([learned_rows[p] for p in compute_at], dtype=torch.long, device=self.device)
                has = ids > 0
                full[has] += self.model.item_embedding.weight[ids[has]]
            lengths = full.norm(dim=1).clamp_min(1e-12)
            at = torch.tensor(compute_at, dtype=torch.long, device=self.device)
            unit[at] = full / lengths[:, None]
            norm[at] = lengths
        return unit, norm

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
            with _torch_threads(self.threads):
                for start in range(0, len(all_rows), int(batch_size)):
                    results.extend(self._score_batch(all_rows[start:start + int(batch_size)], int(k), exclude_history))
            return results

    @torch.inference_mode()
    def _score_batch(self, batch_rows: list[list[int]], k: int, exclude_history: bool) -> list[RecommendationList]:
        n = self._n
        unit_t = self._unit_t[:, :n]
        trimmed = [rows[-self.max_history:] for rows in batch_rows]
        lengths = np.array([len(rows) for rows in trimmed])
        index = np.zeros((len(trimmed), int(lengths.max())), dtype=np.int64)
        for b, rows in enumerate(trimmed):
            index[b, : len(rows)] = rows
        index = torch.from_numpy(index).to(self.device)
        lengths = torch.from_numpy(lengths).to(self.device)
        # the items as the model reads them, left-aligned; padding is hidden by the causal mask
        item_emb = unit_t.T[index] * self._norm[index].unsqueeze(-1)
        sequence = F.normalize(self.model.forward(item_emb, lengths), dim=-1)
        scores = (sequence / self.temperature) @ unit_t  # cosine / temperature, one product
        if exclude_history:
            for b, rows in enumerate(batch_rows):
                scores[b, rows] = float("-inf")
        top = min(k, n)
        kth = torch.topk(scores, top, dim=1).values[:, -1:]
        # The float32 product is one pass over the catalog, but its rounding depends on an item's
        # column and on the batch: equal vectors (e.g. equal texts) can differ in the last bit.
        # Every item within RESCORE_MARGIN of the k-th score is scored again in float64 and
        # rounded to float32, so equal vectors get equal scores; equal scores rank by catalog
        # position. Results thus do not depend on the batch, up to the float rounding of the
        # history's own vector.
        candidates_mask = scores >= kth - RESCORE_MARGIN
        sequence64 = sequence.double() / self.temperature
        results = []
        for b, rows in enumerate(batch_rows):
            candidates = torch.nonzero(candidates_mask[b]).squeeze(1)
            exact = (unit_t[:, candidates].T.double() @ sequence64[b]).float()
            exact[scores[b, candidates] == float("-inf")] = float("-inf")  # excluded history items
            row_scores, row_items = exact.cpu().numpy(), candidates.cpu().numpy()
            order = np.lexsort((row_items, -row_scores))[:top]
            items = tuple(
                Recommendation(self._ids[row], float(score), self._texts[row], bool(self._text_only[row]))
                for score, row in zip(row_scores[order], row_items[order]) if score != float("-inf")
            )
            history_text_only = tuple(self._ids[row] for row in dict.fromkeys(rows) if self._text_only[row]) if self._learned else ()
            results.append(RecommendationList(items, history_text_only))
        return results


def read_histories(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """``(user, item ids)`` per line of a histories file: ``id1 id2 ...`` or ``user<TAB>id1 id2 ...``.

    Lines without a user are named by their line number; blank lines are skipped; a user with
    no ids is an error naming the line.
    """
    path = Path(path)
    histories = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        user, sep, ids = line.partition("\t")
        if not sep:
            user, ids = str(number), line
        user = user.strip()
        if not user:
            raise DataFormatError(path, "empty user before the tab", number)
        items = ids.split()
        if not items:
            raise DataFormatError(path, f"user {user!r} has an empty history", number)
        histories.append((user, items))
    if not histories:
        raise DataFormatError(path, "no histories")
    return histories
