"""Anisotropy analysis: exact mean pairwise cosine, the PCA view, sampling before encoding, and
the script on two tiny domains with a tiny UniSRec checkpoint."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import run_anisotropy
from analysis_fixtures import TINY
from recbole_unisrec.analysis.anisotropy import (
    adapt,
    load_adaptor,
    mean_pairwise_cosine,
    pca_2d,
    sample_domain,
    sample_rows,
    similarity_matrix,
    within_across,
)
from recbole_unisrec.compat import plain_config
from recbole_unisrec.config import Config
from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.registry import create_dataset, get_model
from recbole_unisrec.text.cache import read_item_texts, text_vectors, vectors_path
from recbole_unisrec.text.encoder import EncoderSpec, encode_texts


def brute_force(a: np.ndarray, b: np.ndarray | None = None) -> float:
    cos = lambda x, y: float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))  # noqa: E731
    if b is None:
        pairs = [cos(a[i], a[j]) for i, j in itertools.permutations(range(len(a)), 2)]
    else:
        pairs = [cos(x, y) for x in a for y in b]
    return sum(pairs) / len(pairs)


def test_mean_pairwise_cosine_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(13, 5)) + 0.3
    b = rng.normal(size=(7, 5)) * 3.0 - 0.5
    assert math.isclose(mean_pairwise_cosine(a), brute_force(a), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(mean_pairwise_cosine(a, b), brute_force(a, b), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(mean_pairwise_cosine(b, a), brute_force(a, b), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isnan(mean_pairwise_cosine(a[:1]))  # no pair
    matrix = similarity_matrix([a, b, a[:4]])
    assert np.allclose(matrix, matrix.T)
    assert math.isclose(matrix[0, 0], brute_force(a)) and math.isclose(matrix[1, 2], brute_force(b, a[:4]))
    within, across = within_across(matrix)
    assert math.isclose(within, (matrix[0, 0] + matrix[1, 1] + matrix[2, 2]) / 3)
    assert math.isclose(across, (matrix[0, 1] + matrix[0, 2] + matrix[1, 2]) / 3)


def test_isotropic_sample_near_zero_shifted_near_one() -> None:
    rng = np.random.default_rng(1)
    isotropic = rng.normal(size=(2000, 64))
    assert abs(mean_pairwise_cosine(isotropic)) < 0.01
    shifted = isotropic + 20.0  # every vector leans toward (1, ..., 1)
    assert mean_pairwise_cosine(shifted) > 0.99
    assert mean_pairwise_cosine(isotropic[:1000], isotropic[1000:]) == pytest.approx(0.0, abs=0.01)


def test_pca_2d_is_centred_and_orders_components() -> None:
    rng = np.random.default_rng(2)
    points = np.outer(rng.normal(size=200), [3.0, 4.0, 0.0]) + rng.normal(size=(200, 3)) * 0.01 + 100.0
    projection, explained = pca_2d(points)
    assert projection.shape == (200, 2) and np.allclose(projection.mean(axis=0), 0.0, atol=1e-9)
    assert explained[0] > 0.99 and explained[1] < 0.01


def test_sample_rows_seeded_distinct_sorted() -> None:
    rows = sample_rows(100, 10, seed=5, name="Beauty")
    assert np.array_equal(rows, sample_rows(100, 10, seed=5, name="Beauty"))
    assert len(set(rows.tolist())) == 10 and np.all(np.diff(rows) > 0) and rows.max() < 100
    assert not np.array_equal(rows, sample_rows(100, 10, seed=5, name="Toys"))
    assert np.array_equal(sample_rows(7, 10, seed=5, name="Beauty"), np.arange(7))


# --------------------------------------------------------------------------------------------
# Two tiny domains and a tiny checkpoint
# --------------------------------------------------------------------------------------------

OTHER_TEXTS = ["science fiction novel", "poetry book", "history atlas", "cook book", "travel guide", "steel hammer",
               "iron nails", "wood saw", "power drill", "tape measure", "wool socks", "rain jacket"]


def write_other(root, name: str = "Other") -> None:
    sequences = [(f"u{u}", [f"o{(u + step) % len(OTHER_TEXTS)}" for step in range(5)]) for u in range(24)]
    write_dataset(SequenceData(name, sequences, {f"o{i}": text for i, text in enumerate(OTHER_TEXTS)}), root)


@pytest.fixture(scope="module")
def tiny_checkpoint(skewed_root, tmp_path_factory):
    """An untrained tiny UniSRec built on Skewed (whose vectors are then cached) and saved as
    quick_start.run saves one: plain config and state_dict."""
    config = Config(model="UniSRec", dataset="Skewed", config_dict={**TINY, "data_path": str(skewed_root)})
    dataset = create_dataset(config)
    model = get_model("UniSRec")(config, dataset)
    path = tmp_path_factory.mktemp("checkpoint") / "UniSRec-tiny.pth"
    torch.save({"config": plain_config(config), "state_dict": model.state_dict()}, path)
    return path


def test_uncached_domain_encodes_only_its_sample(skewed_root) -> None:
    write_other(skewed_root)
    spec = EncoderSpec()
    cache = vectors_path(skewed_root, "Other", spec)
    sample = sample_domain(skewed_root, "Other", spec, n=5, seed=3)
    assert not sample.cached and not cache.exists()  # nothing written
    _, texts = read_item_texts(skewed_root / "Other", "Other")
    full = encode_texts(texts, spec)
    assert len(sample.rows) == 5 and np.allclose(sample.vectors, full[sample.rows], atol=1e-5)
    with pytest.raises(FileNotFoundError, match="no cached text vectors"):
        sample_domain(skewed_root, "Other", spec, n=5, seed=3, encode=False)


def test_cached_domain_reads_the_cache(skewed_root, tiny_checkpoint) -> None:
    spec = EncoderSpec()
    table = text_vectors(skewed_root, "Skewed", spec, show_progress=False)  # cached by the checkpoint fixture
    sample = sample_domain(skewed_root, "Skewed", spec, n=10, seed=3, encode=False)
    assert sample.cached and np.array_equal(sample.vectors, table[sample.rows])


def test_adaptor_eval_mode_is_deterministic(tiny_checkpoint) -> None:
    adaptor, spec, _ = load_adaptor(tiny_checkpoint)
    assert not adaptor.training and spec == EncoderSpec()
    vectors = np.random.default_rng(0).normal(size=(6, 384)).astype(np.float32)
    first, second = adapt(adaptor, vectors), adapt(adaptor, vectors, chunk=4)
    assert first.shape == (6, TINY["hidden_size"]) and np.allclose(first, second, atol=1e-6)


def test_script_writes_markdown_and_png(skewed_root, tiny_checkpoint, tmp_path) -> None:
    write_other(skewed_root)
    out = tmp_path / "results" / "anisotropy"
    paths = run_anisotropy.main(["-p", str(tiny_checkpoint), "-d", "Skewed", "Other", "-n", "8", "--seed", "4",
                                 "--data_root", str(skewed_root), "--out", str(out)])
    markdown, png = out.with_suffix(".md"), out.with_suffix(".png")
    assert paths == [markdown, png]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text()
    assert f"`python run_anisotropy.py -p {tiny_checkpoint}" in text
    assert "| raw text vectors |" in text and "| after the MoE adaptor |" in text
    assert "| Skewed | " in text and "| Other | " in text and "encoded now" in text
    assert not list(out.parent.glob(".*.tmp"))
