"""Anisotropy and domain fusion of item text vectors, before and after a UniSRec adaptor.

Text vectors of a frozen language model tend to share one direction (anisotropy: two unrelated
items have a large cosine similarity), and each domain sits in its own region. The paper's
MoE whitening adaptor is meant to undo both. For a sample of items per domain (seeded, up to
``n`` items) this measures the mean pairwise cosine similarity within each domain (self-pairs
excluded) and across each pair of domains, for (a) the raw text vectors and (b) the adaptor's
output (a UniSRec checkpoint's ``moe_adaptor``, eval mode: no dropout, no gating noise), and
projects the sample onto its first two principal components (centred over all domains).

Vectors: each data set's cached table (:func:`recbole_unisrec.text.cache.vectors_path`) where it
exists; otherwise only the sampled items are encoded (about 65 items/s on a 2-core CPU) and
nothing is cached. The same items are sampled either way.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from recbole_unisrec.text.encoder import EncoderSpec

DEFAULT_DATASETS = ["Beauty", "Toys", "Games", "Yelp", "MicroLens", "Steam", "Scientific", "Office"]
"""The shipped pre-training domains (``quick_start.DEFAULT_PRETRAIN_DOMAINS``) and the downstream sets."""


# --------------------------------------------------------------------------------------------
# Similarities (pure)
# --------------------------------------------------------------------------------------------

def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float64; a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def mean_pairwise_cosine(a: np.ndarray, b: np.ndarray | None = None) -> float:
    """Mean cosine similarity over all pairs: within ``a`` (``i != j``) or between ``a`` and ``b``.

    Exact, in O(n d): the sum of all pairwise cosines is ``|sum of unit rows|^2`` (minus the ``n``
    self-pairs within one set). NaN where there is no pair.
    """
    ua = unit_rows(a)
    if b is None:
        n = len(ua)
        if n < 2:
            return float("nan")
        total = ua.sum(axis=0)
        self_pairs = float((ua * ua).sum())  # n, less any zero rows
        return float((total @ total - self_pairs) / (n * (n - 1)))
    ub = unit_rows(b)
    if not len(ua) or not len(ub):
        return float("nan")
    return float(ua.sum(axis=0) @ ub.sum(axis=0) / (len(ua) * len(ub)))


def similarity_matrix(samples: Sequence[np.ndarray]) -> np.ndarray:
    """``[D, D]``: the mean within-domain cosine on the diagonal, the across-domain one elsewhere."""
    count = len(samples)
    matrix = np.empty((count, count))
    for i in range(count):
        matrix[i, i] = mean_pairwise_cosine(samples[i])
        for j in range(i + 1, count):
            matrix[i, j] = matrix[j, i] = mean_pairwise_cosine(samples[i], samples[j])
    return matrix


def within_across(matrix: np.ndarray) -> tuple[float, float]:
    """(mean of the diagonal, mean over distinct domain pairs) of a :func:`similarity_matrix`."""
    matrix = np.asarray(matrix)
    upper = matrix[np.triu_indices(len(matrix), k=1)]
    return float(np.nanmean(np.diag(matrix))), float(np.nanmean(upper)) if len(upper) else float("nan")


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projection of the centred rows onto their first two principal components, and the share of
    the variance each explains (numpy SVD)."""
    centred = np.asarray(vectors, dtype=np.float64)
    centred = centred - centred.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    return centred @ components[:2].T, share[:2]


# --------------------------------------------------------------------------------------------
# Samples of each domain's text vectors
# --------------------------------------------------------------------------------------------

@dataclass
class DomainSample:
    name: str
    n_items: int
    rows: np.ndarray
    """Row numbers of the sampled items in the domain's table (``item2index`` order)."""
    vectors: np.ndarray
    cached: bool
    """Whether the vectors came from the domain's cache (else the sample was encoded now)."""


def sample_rows(n_items: int, n: int, seed: int, name: str) -> np.ndarray:
    """Up to ``n`` distinct rows out of ``n_items``, sorted; a function of (seed, name) only."""
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
    if n >= n_items:
        return np.arange(n_items)
    return np.sort(rng.choice(n_items, size=n, replace=False))


def sample_domain(data_root: str | os.PathLike, name: str, spec: EncoderSpec, n: int = 1000, seed: int = 2020,
                  encode: bool = True) -> DomainSample:
    """Text vectors of up to ``n`` sampled items of data set ``name`` under ``data_root``.

    From the cache where it exists; else the sampled texts only are encoded (``encode``) or a
    ``FileNotFoundError`` names the missing cache file.
    """
    from recbole_unisrec.data.layout import missing_dataset
    from recbole_unisrec.text.cache import read_item_texts, text_vectors, vectors_path
    from recbole_unisrec.text.encoder import encode_texts

    folder = Path(data_root) / name
    if not folder.is_dir():
        raise missing_dataset(data_root, name, f"folder {folder}")
    _, texts = read_item_texts(folder, name)
    rows = sample_rows(len(texts), n, seed, name)
    path = vectors_path(data_root, name, spec)
    if path.is_file():
        table = text_vectors(data_root, name, spec, show_progress=False)  # reads the cache
        return DomainSample(name, len(texts), rows, np.asarray(table[rows], dtype=np.float32), True)
    if not encode:
        raise FileNotFoundError(f"{name}: no cached text vectors ({path}); encode them first or allow encoding")
    vectors = encode_texts([texts[row] for row in rows], spec)
    return DomainSample(name, len(texts), rows, vectors, False)


# --------------------------------------------------------------------------------------------
# The adaptor of a checkpoint
# --------------------------------------------------------------------------------------------

def load_adaptor(path: str | os.PathLike, check_text_encoder: bool = True) -> tuple[torch.nn.Module, EncoderSpec, dict[str, Any]]:
    """``(adaptor, encoder spec, checkpoint)``: a UniSRec checkpoint's MoE adaptor in eval mode and
    the text encoder its vectors come from (checked to be the one available here)."""
    from recbole_unisrec.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
    from recbole_unisrec.serving import build_model, check_encoder, checkpoint_encoder_spec

    path = str(path)
    checkpoint = load_checkpoint(path)
    config = checkpoint_config(checkpoint)
    if config.get("model") not in (None, "UniSRec"):
        raise CheckpointError(f"{path}: a {config.get('model')} checkpoint; only UniSRec has the MoE adaptor")
    model = build_model(checkpoint["state_dict"], config)
    spec = checkpoint_encoder_spec(checkpoint, config)
    if check_text_encoder:
        check_encoder(checkpoint, config, spec, model.plm_size, path)
    return model.moe_adaptor.eval(), spec, checkpoint


@torch.no_grad()
def adapt(adaptor: torch.nn.Module, vectors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The adaptor's output for each row (eval mode, in chunks)."""
    adaptor.eval()
    parts = [adaptor(torch.from_numpy(np.ascontiguousarray(vectors[start:start + chunk], dtype=np.float32))).numpy()
             for start in range(0, len(vectors), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# The analysis and its report
# --------------------------------------------------------------------------------------------

@dataclass
class Space:
    """One vector space (raw text vectors, or after the adaptor): similarities and the PCA view."""

    title: str
    matrix: np.ndarray
    within: float
    across: float
    projection: np.ndarray = field(repr=False)
    explained: np.ndarray = field(repr=False)


@dataclass
class AnisotropyResult:
    samples: list[DomainSample]
    spaces: list[Space]
    checkpoint: str | None
    seed: int

    @property
    def names(self) -> list[str]:
        return [sample.name for sample in self.samples]


def measure(title: str, vectors: Sequence[np.ndarray]) -> Space:
    matrix = similarity_matrix(vectors)
    within, across = within_across(matrix)
    projection, explained = pca_2d(np.concatenate(vectors))
    return Space(title, matrix, within, across, projection, explained)


def anisotropy(datasets: Sequence[str] = DEFAULT_DATASETS, checkpoint: str | os.PathLike | None = None,
               n: int = 1000, seed: int = 2020, data_root: str | os.PathLike | None = None,
               encode: bool = True) -> AnisotropyResult:
    """Sample each data set, measure the raw vectors and (with ``checkpoint``) the adapted ones."""
    from recbole_unisrec.data.layout import SHIPPED_DATA
    from recbole_unisrec.text.encoder import EncoderSpec

    if len(set(datasets)) != len(datasets) or not datasets:
        raise ValueError(f"give distinct data sets, got {list(datasets)}")
    data_root = Path(data_root) if data_root is not None else SHIPPED_DATA
    adaptor, spec = None, EncoderSpec()
    if checkpoint is not None:
        adaptor, spec, _ = load_adaptor(checkpoint)
    samples = [sample_domain(data_root, name, spec, n, seed, encode) for name in datasets]
    spaces = [measure("raw text vectors", [s.vectors for s in samples])]
    if adaptor is not None:
        spaces.append(measure("after the MoE adaptor", [adapt(adaptor, s.vectors) for s in samples]))
    return AnisotropyResult(samples, spaces, None if checkpoint is None else str(checkpoint), seed)


def _cell(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.3f}"


def markdown_report(result: AnisotropyResult, caption: str = "") -> str:
    """Summary (within vs across, per space), per-domain within similarity, and the full matrices."""
    names = result.names
    lines = [caption.strip(), ""] if caption else []
    lines += ["Mean pairwise cosine similarity of item vectors (self-pairs excluded). *Within*: the mean over "
              "domains of each domain's own mean; *across*: the mean over pairs of domains of their mean.", ""]
    lines += ["| Vectors | Within domains | Across domains | Within − across | PCA variance (PC1, PC2) |",
              "|---|---:|---:|---:|---:|"]
    for space in result.spaces:
        lines.append(f"| {space.title} | {_cell(space.within)} | {_cell(space.across)} | "
                     f"{_cell(space.within - space.across)} | {space.explained[0]:.1%}, {space.explained[1]:.1%} |")
    lines += ["", "**Within each domain**", "",
              "| Domain | Items | Sampled | Vectors | " + " | ".join(s.title for s in result.spaces) + " |",
              "|---|---:|---:|---|" + "---:|" * len(result.spaces)]
    for index, sample in enumerate(result.samples):
        source = "cache" if sample.cached else "encoded now"
        lines.append(f"| {sample.name} | {sample.n_items:,} | {len(sample.rows):,} | {source} | "
                     + " | ".join(_cell(space.matrix[index, index]) for space in result.spaces) + " |")
    for space in result.spaces:
        lines += ["", f"**{space.title[0].upper() + space.title[1:]}**: domain × domain (diagonal: within)", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for index, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(_cell(v) for v in space.matrix[index]) + " |")
    lines.append("")
    return "\n".join(lines)


def plot(result: AnisotropyResult, path: str | os.PathLike) -> Path:
    """One panel per space: the sample on its first two principal components, coloured by domain."""
    from recbole_unisrec.analysis.figures import new_figure, save_png

    figure = new_figure(5.5 * len(result.spaces) + 1.5, 5.0)
    panels = figure.subplots(1, len(result.spaces), squeeze=False)[0]
    bounds = np.cumsum([0] + [len(s.rows) for s in result.samples])
    colours = [f"C{i % 10}" for i in range(len(result.samples))]
    for axes, space in zip(panels, result.spaces):
        for index, sample in enumerate(result.samples):
            points = space.projection[bounds[index]:bounds[index + 1]]
            axes.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5, color=colours[index], label=sample.name,
                         marker="o" if index < 10 else "x")
        axes.set_title(f"{space.title}\nmean cosine within {space.within:.2f}, across {space.across:.2f}")
        axes.set_xlabel(f"PC1 ({space.explained[0]:.0%})")
        axes.set_ylabel(f"PC2 ({space.explained[1]:.0%})")
    panels[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, fontsize="small")
    return save_png(figure, path)


def write_report(out: str | os.PathLike, result: AnisotropyResult, caption: str = "") -> list[Path]:
    """``<out>.md`` and ``<out>.png``, each written whole or not at all."""
    from recbole_unisrec.fileio import atomic_write, beside
    markdown = beside(out, ".md")
    with atomic_write(markdown) as handle:
        handle.write(markdown_report(result, caption))
    return [markdown, plot(result, beside(out, ".png"))]


def describe(result: AnisotropyResult) -> dict[str, Any]:
    """The summary numbers as plain values (for printing)."""
    return {space.title: {"within": round(space.within, 4), "across": round(space.across, 4)} for space in result.spaces}
