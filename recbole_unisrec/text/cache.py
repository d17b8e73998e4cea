"""Per-data-set text vector tables, encoded once and cached beside the data.

A data set folder ``<data_dir>/<Name>/`` holds ``<Name>.item2index`` (raw id, tab, index; one line
per item, row ``i`` of the table is line ``i + 1``) and ``<Name>.text`` (header
``item_id:token<TAB>text:token_seq``, then raw id, tab, text). :func:`text_vectors` returns the
table as a read-only memory-mapped float32 array, cached as

    <data_dir>/<Name>/<Name>.<model-slug>.<pooling>[.wd<ratio>s<seed>].<key>.npy

with a JSON sidecar ``....<key>.json`` (model, pooling, dim, rows, ...). ``key`` is a short sha256
over the model's identity (content of its config, tokenizer and weight files), pooling,
max_length, the word-drop ratio and seed, and the item texts in row order: any change gives a new
file, and an unchanged set of inputs is never encoded twice. Files are written whole or not at all.

Either input file may be gzipped (``<Name>.text.gz``; the plain file wins where both exist).

An encoder named ``imported:<suffix>`` has no model behind it: its table is put into the cache by
:func:`store_vectors` (``convert unisrec-files`` imports the original code's vector files), its
file name and key carry no pooling or length, and a missing table is an error, never an encoding.

A multi-domain corpus folder holds ``<Name>.domains`` (lines ``<d><TAB><DomainName><TAB><n_items>``,
as :mod:`recbole_unisrec.data.corpus` writes them): its table is the domains' tables (each cached
in the sibling folder ``<data_dir>/<DomainName>/``, so a domain already encoded is not encoded
again) concatenated in that order. Where the domain folders are not siblings (a corpus built into
another folder), the corpus's own ``.item2index`` / ``.text`` (the same texts, in the same order)
are encoded instead, word drop applied per domain, so the table is the same either way.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recbole_unisrec.data.layout import data_file, read_item_index
from recbole_unisrec.fileio import DataFormatError, atomic_write, read_lines
from recbole_unisrec.text import encoder as _encoder
from recbole_unisrec.text.encoder import ENCODER_VERSION, EncoderSpec, ModelLoadError, is_imported
from recbole_unisrec.text.word_drop import WORD_DROP_VERSION, check_ratio, word_drop

logger = logging.getLogger(__name__)

KEY_LENGTH = 16


# --------------------------------------------------------------------------------------------
# Reading a data set's item texts
# --------------------------------------------------------------------------------------------

def read_item_texts(folder: str | os.PathLike, name: str) -> tuple[list[str], list[str]]:
    """``(raw_ids, texts)`` in ``<Name>.item2index`` line order, texts from ``<Name>.text``.

    Either file may be gzipped (``.gz``, used where the plain file is absent); blank lines are
    skipped. Raises :class:`DataFormatError` (file and line named) for a malformed or duplicated
    ``item2index`` line, a malformed or duplicated ``.text`` row, or an item without text.
    """
    folder = Path(folder)
    index_path = data_file(folder, name, "item2index")
    text_path = data_file(folder, name, "text")

    items = [(number, raw) for number, raw, _ in read_item_index(folder, name)]

    texts: dict[str, str] = {}
    id_col = text_col = None
    n_cols = 0
    text_lines: dict[str, int] = {}
    for number, line in read_lines(text_path):
        if number > 1 and not line.strip():
            continue
        fields = line.split("\t")
        if number == 1:
            names = [field.split(":", 1)[0].strip() for field in fields]
            if "item_id" not in names or "text" not in names:
                raise DataFormatError(
                    text_path, f"header must name item_id and text columns (item_id:token<TAB>text:token_seq), got {line!r}", 1
                )
            id_col, text_col, n_cols = names.index("item_id"), names.index("text"), len(names)
            continue
        if len(fields) != n_cols:
            raise DataFormatError(text_path, f"expected {n_cols} tab-separated fields, got {len(fields)}", number)
        raw = fields[id_col].strip()
        if raw in text_lines:
            raise DataFormatError(text_path, f"item {raw!r} already has a text on line {text_lines[raw]}", number)
        text_lines[raw] = number
        texts[raw] = fields[text_col].strip()
    if id_col is None:
        raise DataFormatError(text_path, "empty file: no header")

    ordered = []
    for number, raw in items:
        text = texts.get(raw)
        if not text:
            why = "an empty text" if raw in texts else "no text"
            raise DataFormatError(index_path, f"item {raw!r} has {why} in {text_path}", number)
        ordered.append(text)
    return [raw for _, raw in items], ordered


def _read_domains(folder: Path, name: str) -> list[tuple[int, str, int]]:
    """``(line, domain name, n_items)`` from ``<Name>.domains`` (positions 0, 1, 2, ... in order)."""
    path = folder / f"{name}.domains"
    domains = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3 or not fields[1] or not fields[2].isdigit() or int(fields[2]) <= 0:
            raise DataFormatError(path, f"expected 'position<TAB>domain name<TAB>item count > 0', got {line[:80]!r}", number)
        position, domain, count = fields
        if position != str(len(domains)):
            raise DataFormatError(path, f"domain position {position!r} out of order: expected {len(domains)}", number)
        if domain == name or "/" in domain or os.sep in domain or domain in (".", ".."):
            raise DataFormatError(path, f"domain name {domain!r} must name a sibling data set folder", number)
        domains.append((number, domain, int(count)))
    if not domains:
        raise DataFormatError(path, "no domains listed")
    return domains


# --------------------------------------------------------------------------------------------
# Cache plans: the file a table lives in, computed without encoding anything
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    name: str
    path: Path
    key: str
    rows: int
    texts: tuple[str, ...] | None  # None: a corpus, built from `domains`
    domains: tuple["_Plan", ...] = ()
    model_id: str = ""
    segments: tuple[int, ...] = ()  # a corpus read from its own texts: rows per domain


def _pooling_and_length(spec: EncoderSpec) -> tuple[str | None, int | None]:
    """Imported vectors were pooled and truncated by the code that made them: these settings do not apply."""
    return (None, None) if is_imported(spec.model) else (spec.pooling, int(spec.max_length))


def _file_stem(name: str, slug: str, spec: EncoderSpec, ratio: float, seed: int) -> str:
    drop = f".wd{ratio:g}s{int(seed)}" if ratio > 0 else ""
    pooling, _ = _pooling_and_length(spec)
    return f"{name}.{slug}{f'.{pooling}' if pooling else ''}{drop}"


def _settings(spec: EncoderSpec, model_id: str, ratio: float, seed: int) -> dict:
    pooling, max_length = _pooling_and_length(spec)
    return {
        "encoder_version": ENCODER_VERSION,
        "model": model_id,
        "pooling": pooling,
        "max_length": max_length,
        "word_drop": None if ratio == 0 else {"ratio": ratio, "seed": int(seed), "version": WORD_DROP_VERSION},
    }


def _texts_digest(texts) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _plan(data_dir: Path, name: str, spec: EncoderSpec, ratio: float, seed: int, model_id: str,
          slug: str, stack: tuple[str, ...] = ()) -> _Plan:
    if name in stack:
        raise DataFormatError(data_dir / name / f"{name}.domains", f"domains form a cycle: {' -> '.join(stack + (name,))}")
    folder = data_dir / name
    settings = _settings(spec, model_id, ratio, seed)
    stem = _file_stem(name, slug, spec, ratio, seed)
    if (folder / f"{name}.domains").is_file():
        domains_path = folder / f"{name}.domains"
        domains = _read_domains(folder, name)
        rows = sum(count for _, _, count in domains)
        own_index = data_file(folder, name, "item2index")
        if own_index.is_file():
            own_rows = sum(1 for _, line in read_lines(own_index) if line.strip())
            if own_rows != rows:
                raise DataFormatError(own_index, f"{own_rows} items, but the domains in {domains_path.name} hold {rows}")
        missing = [(number, domain) for number, domain, _ in domains
                   if not data_file(data_dir / domain, domain, "item2index").is_file()]
        if missing and not own_index.is_file():
            number, domain = missing[0]
            raise DataFormatError(
                domains_path, f"domain {domain!r}: no data set {data_dir / domain}, and {name} has no texts of its own", number
            )
        if not missing:
            parts = []
            for number, domain, count in domains:
                part = _plan(data_dir, domain, spec, ratio, seed, model_id, slug, stack + (name,))
                if part.rows != count:
                    raise DataFormatError(
                        domains_path, f"domain {domain!r} has {part.rows} items in its item2index, this line says {count}", number
                    )
                parts.append(part)
            payload = dict(settings, domains=[[part.name, part.rows, part.key] for part in parts])
            key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]
            return _Plan(name, folder / f"{stem}.{key}.npy", key, rows, None, tuple(parts), model_id)
        # The domains are not beside the corpus (it was built into another folder): encode the
        # corpus's own texts, which are the domains' texts in the same order.
        logger.info("corpus %s: domain folders %s not found under %s; using the corpus's own texts",
                    name, ", ".join(domain for _, domain in missing), data_dir)
        segments = tuple(count for _, _, count in domains)
    else:
        segments = ()
    _, texts = read_item_texts(folder, name)
    payload = dict(settings, texts=_texts_digest(texts), rows=len(texts), segments=list(segments))
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]
    return _Plan(name, folder / f"{stem}.{key}.npy", key, len(texts), tuple(texts), (), model_id, segments)


def _make_plan(data_dir, name, spec, ratio, seed) -> _Plan:
    resolved = _encoder.resolve_model(spec.model)
    return _plan(Path(data_dir), name, spec, ratio, seed, _encoder.model_identity(spec.model), resolved.slug)


def vectors_path(data_dir: str | os.PathLike, name: str, spec: EncoderSpec = EncoderSpec(),
                 word_drop_ratio: float = 0.0, seed: int = 2022) -> Path:
    """The cache file :func:`text_vectors` reads or writes for these arguments (nothing encoded)."""
    return _make_plan(data_dir, name, spec, check_ratio(word_drop_ratio), seed).path


# --------------------------------------------------------------------------------------------
# Building and reading tables
# --------------------------------------------------------------------------------------------

def _open_cached(plan: _Plan) -> np.ndarray | None:
    if not plan.path.is_file():
        return None
    try:
        table = np.load(plan.path, mmap_mode="r")
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable text vector cache %s: %s", plan.path, error)
        return None
    if table.ndim != 2 or table.shape[0] != plan.rows or table.dtype != np.float32:
        logger.warning("ignoring text vector cache %s: shape %s %s, expected %d float32 rows",
                       plan.path, table.shape, table.dtype, plan.rows)
        return None
    return table


def _store(plan: _Plan, table: np.ndarray, spec: EncoderSpec, ratio: float, seed: int) -> np.ndarray:
    table = np.ascontiguousarray(table, dtype=np.float32)
    with atomic_write(plan.path, "wb") as handle:
        np.save(handle, table)
    pooling, max_length = _pooling_and_length(spec)
    info = {
        "model": spec.model,
        "model_identity": plan.model_id,
        "pooling": pooling,
        "max_length": max_length,
        "word_drop_ratio": ratio,
        "seed": int(seed) if ratio > 0 else None,
        "dim": int(table.shape[1]),
        "rows": int(table.shape[0]),
        "key": plan.key,
        "domains": [[part.name, part.rows] for part in plan.domains] or None,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_write(plan.path.with_suffix(".json")) as handle:
        json.dump(info, handle, indent=2)
        handle.write("\n")
    logger.info("wrote text vectors %s (%d x %d)", plan.path, table.shape[0], table.shape[1])
    return np.load(plan.path, mmap_mode="r")


def _build(plan: _Plan, data_dir: Path, spec: EncoderSpec, ratio: float, seed: int, show_progress: bool) -> np.ndarray:
    cached = _open_cached(plan)
    if cached is not None:
        return cached
    if is_imported(spec.model) and plan.texts is not None:
        copy = " (no word-dropped copy is imported)" if ratio > 0 else ""
        raise ModelLoadError(f"{plan.path}: {plan.name} has no text vectors {spec.model!r}{copy}; import them with "
                             "python -m recbole_unisrec convert unisrec-files")
    if plan.texts is None:
        parts = []
        for part in plan.domains:
            table = _build(part, data_dir, spec, ratio, seed, show_progress)
            if table.shape[0] != part.rows:
                raise DataFormatError(part.path, f"{table.shape[0]} rows, domain {part.name} has {part.rows} items")
            parts.append(table)
        if len({table.shape[1] for table in parts}) != 1:
            raise ValueError(f"corpus {plan.name}: domain tables differ in width {[t.shape[1] for t in parts]}")
        return _store(plan, np.concatenate(parts, axis=0), spec, ratio, seed)
    texts = list(plan.texts)
    if ratio > 0:
        # word drop runs per domain, as it does when a corpus stacks its domains' tables
        bounds = np.cumsum((0,) + (plan.segments or (len(texts),)))
        texts = [text for lo, hi in zip(bounds[:-1], bounds[1:]) for text in word_drop(texts[lo:hi], ratio, seed)]
    logger.info("encoding %d item texts of %s with %s (%s pooling%s)", len(texts), plan.name, spec.model, spec.pooling,
                f", word drop {ratio:g}" if ratio > 0 else "")
    table = _encoder.encode_texts(texts, spec, show_progress=show_progress)
    model_id = _encoder.model_identity(spec.model)
    if model_id != plan.model_id:  # a hub model downloaded just now: store under its content identity
        plan = _plan(data_dir, plan.name, spec, ratio, seed, model_id, _encoder.resolve_model(spec.model).slug)
    return _store(plan, table, spec, ratio, seed)


def store_vectors(data_dir: str | os.PathLike, name: str, spec: EncoderSpec, table: np.ndarray) -> Path:
    """Cache ``table`` as data set ``name``'s vectors for ``spec``, where :func:`text_vectors` finds
    them (for vectors made elsewhere, e.g. imported from the original code's files)."""
    plan = _make_plan(Path(data_dir), name, spec, 0.0, 0)
    if table.ndim != 2 or table.shape[0] != plan.rows:
        raise ValueError(f"{name}: a table of shape {tuple(table.shape)} for {plan.rows} items")
    return Path(_store(plan, table, spec, 0.0, 0).filename)


def text_vectors(data_dir: str | os.PathLike, name: str, spec: EncoderSpec = EncoderSpec(),
                 word_drop_ratio: float = 0.0, seed: int = 2022, show_progress: bool = True) -> np.ndarray:
    """The text vector table of data set (or corpus) ``name`` under ``data_dir``.

    A read-only memory-mapped float32 array ``[n_items, d]``, row ``i`` for line ``i + 1`` of
    ``<Name>.item2index``. ``word_drop_ratio > 0`` encodes the texts after
    :func:`~recbole_unisrec.text.word_drop.word_drop` with ``seed`` (the augmentation copy).
    Read from the cache when there (the model is not loaded), else encoded and cached.
    A corpus folder (one with ``<Name>.domains``) concatenates its domains' tables, each
    cached in its own folder (or, where the domains are not beside it, encodes its own texts).
    """
    ratio = check_ratio(word_drop_ratio)
    data_dir = Path(data_dir)
    plan = _make_plan(data_dir, name, spec, ratio, seed)
    return _build(plan, data_dir, spec, ratio, seed, show_progress)
