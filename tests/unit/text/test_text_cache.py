import gzip
import json
import shutil

import numpy as np
import pytest
from text_fixtures import write_corpus, write_dataset

from recbole_unisrec.fileio import DataFormatError
from recbole_unisrec.text import EncoderSpec, encode_texts, text_vectors, vectors_path
from recbole_unisrec.text import cache as cache_module

ITEMS = [
    ("B001", "Digital caliper. Measuring tools. Neiko."),
    ("B002", "Nitrile gloves, powder free, box of 100. Lab supplies."),
    ("B003", "Beaker."),
]
SPEC = EncoderSpec()


def npy_files(folder):
    return sorted(path.name for path in folder.iterdir() if path.suffix == ".npy")


def test_rows_follow_item2index_and_cache_hit_needs_no_model(tmp_path, request):
    folder = write_dataset(tmp_path, "Tiny", ITEMS, text_order=[2, 0, 1])
    table = text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    assert table.shape == (3, 384) and table.dtype == np.float32
    assert isinstance(table, np.memmap) and not table.flags.writeable
    np.testing.assert_allclose(table, encode_texts([text for _, text in ITEMS], SPEC), atol=1e-5)

    (name,) = npy_files(folder)
    assert name.startswith("Tiny.all-MiniLM-L6-v2.mean.") and name == vectors_path(tmp_path, "Tiny", SPEC).name
    info = json.loads((folder / name).with_suffix(".json").read_text())
    assert (info["dim"], info["rows"], info["pooling"], info["model"]) == (384, 3, "mean", "default")
    assert not [path for path in folder.iterdir() if path.name.endswith(".tmp")]

    request.getfixturevalue("no_model")  # from here on, loading the model fails
    again = text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    np.testing.assert_array_equal(again, table)
    # batch size and device do not change the vectors, so they do not change the file
    assert vectors_path(tmp_path, "Tiny", EncoderSpec(batch_size=7)) == folder / name


def test_changed_text_re_encodes(tmp_path):
    folder = write_dataset(tmp_path, "Tiny", ITEMS)
    before = np.array(text_vectors(tmp_path, "Tiny", SPEC, show_progress=False))
    write_dataset(tmp_path, "Tiny", [ITEMS[0], (ITEMS[1][0], "Safety goggles."), ITEMS[2]])
    after = text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    assert len(npy_files(folder)) == 2
    np.testing.assert_allclose(after[[0, 2]], before[[0, 2]], atol=1e-5)
    assert not np.allclose(after[1], before[1], atol=1e-3)


def test_word_dropped_copy_and_cls_are_separate_tables(tmp_path):
    folder = write_dataset(tmp_path, "Tiny", ITEMS)
    plain = text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    dropped = text_vectors(tmp_path, "Tiny", SPEC, word_drop_ratio=0.5, seed=1, show_progress=False)
    cls = text_vectors(tmp_path, "Tiny", EncoderSpec(pooling="cls"), show_progress=False)
    assert dropped.shape == cls.shape == plain.shape
    assert not np.allclose(dropped, plain, atol=1e-3)
    names = npy_files(folder)
    assert len(names) == 3
    assert any(".mean.wd0.5s1." in name for name in names) and any(".cls." in name for name in names)
    assert vectors_path(tmp_path, "Tiny", SPEC, 0.5, seed=2) != vectors_path(tmp_path, "Tiny", SPEC, 0.5, seed=1)


def test_missing_text_names_file_and_line(tmp_path, no_model):
    folder = write_dataset(tmp_path, "Tiny", ITEMS)
    text = folder / "Tiny.text"
    text.write_text("".join(line for line in text.read_text().splitlines(True) if not line.startswith("B002")))
    with pytest.raises(DataFormatError, match=r"Tiny\.item2index:2: item 'B002' has no text") as error:
        text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    assert error.value.line == 2 and error.value.path.endswith("Tiny.item2index")


@pytest.mark.parametrize("content, line, message", [
    ("B001\t0\nB002\n", 2, "raw id<TAB>index"),
    ("B001\t0\n\tx\n", 2, "raw id<TAB>index"),
    ("B001\t0\nB002\t1\tx\n", 2, "raw id<TAB>index"),
    ("B001\t0\nB001\t1\n", 2, "already listed on line 1"),
])
def test_malformed_item2index_names_line(tmp_path, no_model, content, line, message):
    folder = write_dataset(tmp_path, "Tiny", ITEMS)
    (folder / "Tiny.item2index").write_text(content)
    with pytest.raises(DataFormatError, match=message) as error:
        text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    assert error.value.line == line


def test_failed_encoding_leaves_no_table(tmp_path, monkeypatch):
    folder = write_dataset(tmp_path, "Tiny", ITEMS)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module._encoder, "encode_texts", crash)
    with pytest.raises(KeyboardInterrupt):
        text_vectors(tmp_path, "Tiny", SPEC, show_progress=False)
    assert sorted(path.name for path in folder.iterdir()) == ["Tiny.item2index", "Tiny.text"]


def test_corpus_is_domains_stacked_without_re_encoding(tmp_path, request):
    write_dataset(tmp_path, "A", ITEMS)
    write_dataset(tmp_path, "B", [("X1", "Safety goggles."), ("B001", "A different text for a shared raw id.")])
    corpus = write_corpus(tmp_path, "AB", [("A", 3), ("B", 2)])
    a = text_vectors(tmp_path, "A", SPEC, show_progress=False)
    b = text_vectors(tmp_path, "B", SPEC, show_progress=False)

    request.getfixturevalue("no_model")  # from here on, loading the model fails
    table = text_vectors(tmp_path, "AB", SPEC, show_progress=False)
    assert table.shape == (5, 384)
    np.testing.assert_array_equal(table, np.concatenate([a, b]))
    assert len(npy_files(corpus)) == 1
    assert json.loads((corpus / npy_files(corpus)[0]).with_suffix(".json").read_text())["domains"] == [["A", 3], ["B", 2]]


def test_corpus_item_count_mismatch_names_line(tmp_path, no_model):
    write_dataset(tmp_path, "A", ITEMS)
    write_dataset(tmp_path, "B", ITEMS[:1])
    write_corpus(tmp_path, "AB", [("A", 3), ("B", 4)])
    with pytest.raises(DataFormatError, match=r"AB\.domains:2: domain 'B' has 1 items"):
        text_vectors(tmp_path, "AB", SPEC, show_progress=False)


def test_gzipped_inputs_are_read(tmp_path):
    write_dataset(tmp_path / "plain", "Tiny", ITEMS)
    packed = write_dataset(tmp_path / "packed", "Tiny", ITEMS)
    for suffix in ("text", "item2index"):
        path = packed / f"Tiny.{suffix}"
        with open(path, "rb") as source, gzip.open(path.with_name(path.name + ".gz"), "wb") as target:
            shutil.copyfileobj(source, target)
        path.unlink()
    np.testing.assert_array_equal(
        text_vectors(tmp_path / "packed", "Tiny", SPEC, show_progress=False),
        text_vectors(tmp_path / "plain", "Tiny", SPEC, show_progress=False),
    )


def test_corpus_built_elsewhere_uses_its_own_texts(tmp_path, request):
    """A corpus from recbole_unisrec.data.corpus, written away from its domains: same table."""
    from recbole_unisrec.data.convert.common import SequenceData, write_dataset as write_layout
    from recbole_unisrec.data.corpus import build_corpus

    def domain(name, items):
        texts = dict(items)
        ids = list(texts)
        sequences = [(f"u{i}", [ids[i % len(ids)], ids[(i + 1) % len(ids)], ids[(i + 2) % len(ids)]]) for i in range(len(ids))]
        write_layout(SequenceData(name, sequences, texts), tmp_path / "data")

    domain("Alpha", ITEMS)
    domain("Beta", [("X1", "Safety goggles. Lab supplies."), ("B001", "Another text for a shared raw id."), ("X3", "Funnel.")])
    build_corpus(["Alpha", "Beta"], tmp_path / "data", tmp_path / "out", name="AB")
    for ratio in (0.0, 0.4):
        stacked = np.concatenate([text_vectors(tmp_path / "data", d, SPEC, ratio, seed=5, show_progress=False) for d in ("Alpha", "Beta")])
        own = text_vectors(tmp_path / "out", "AB", SPEC, ratio, seed=5, show_progress=False)
        np.testing.assert_allclose(own, stacked, atol=1e-5)
    # moved beside its domains, the corpus stacks their cached tables: no encoding
    shutil.move(tmp_path / "out" / "AB", tmp_path / "data" / "AB")
    request.getfixturevalue("no_model")
    stacked = np.concatenate([text_vectors(tmp_path / "data", d, SPEC, show_progress=False) for d in ("Alpha", "Beta")])
    np.testing.assert_array_equal(text_vectors(tmp_path / "data", "AB", SPEC, show_progress=False), stacked)
