"""Multi-domain pre-training corpus: exact merged files, gzipped inputs, names, errors."""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.data.corpus import build_corpus, corpus_name, read_domains
from recbole_unisrec.fileio import DataFormatError

INTER = "user_id:token\titem_id_list:token_seq\titem_id:token"
TEXT = "item_id:token\ttext:token_seq"

ALPHA = {
    "Alpha.train.inter": [INTER, "1\t1\t2"],
    "Alpha.valid.inter": [INTER, "0\t0\t1", "1\t1 2\t0"],
    "Alpha.test.inter": [INTER, "0\t0 1\t2", "1\t1 2 0\t3"],
    "Alpha.item2index": ["x\t0", "y\t1", "z\t2", "w\t3"],
    "Alpha.user2index": ["ua\t0", "ub\t1"],
    # text rows in another order than the item2index, plus one item no split uses
    "Alpha.text": [TEXT, "w\tW text.", "x\tX text.", "unused\tNot listed.", "z\tZ text. ", "y\tY text."],
}
BETA = {
    "Beta.train.inter": [INTER],
    "Beta.valid.inter": [INTER, "0\t0\t1"],
    "Beta.test.inter": [INTER, "0\t0 1\t2"],
    "Beta.item2index": ["p\t0", "q\t1", "r\t2"],
    "Beta.user2index": ["uc\t0"],
    "Beta.text": [TEXT, "p\tP text.", "q\tQ text.", "r\tR text."],
}

EXPECTED = {
    "AB.train.inter": [INTER, "0-1\t0-1\t0-2"],
    "AB.valid.inter": [INTER, "0-0\t0-0\t0-1", "0-1\t0-1 0-2\t0-0", "1-0\t1-0\t1-1"],
    "AB.test.inter": [INTER, "0-0\t0-0 0-1\t0-2", "0-1\t0-1 0-2 0-0\t0-3", "1-0\t1-0 1-1\t1-2"],
    "AB.item2index": ["0-x\t0-0", "0-y\t0-1", "0-z\t0-2", "0-w\t0-3", "1-p\t1-0", "1-q\t1-1", "1-r\t1-2"],
    "AB.user2index": ["0-ua\t0-0", "0-ub\t0-1", "1-uc\t1-0"],
    "AB.text": [TEXT, "0-x\tX text.", "0-y\tY text.", "0-z\tZ text. ", "0-w\tW text.", "1-p\tP text.", "1-q\tQ text.", "1-r\tR text."],
    "AB.domains": ["0\tAlpha\t4", "1\tBeta\t3"],
}


def make_domain(root: Path, files: dict[str, list[str]], gzipped: tuple[str, ...] = ()) -> None:
    for filename, lines in files.items():
        folder = root / filename.split(".")[0]
        folder.mkdir(parents=True, exist_ok=True)
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if filename in gzipped:
            with gzip.open(folder / (filename + ".gz"), "wb") as handle:
                handle.write(data)
        else:
            (folder / filename).write_bytes(data)


def read_folder(folder: Path) -> dict[str, list[str]]:
    return {path.name: path.read_text(encoding="utf-8").split("\n")[:-1] for path in sorted(folder.iterdir())}


@pytest.fixture
def data_root(tmp_path) -> Path:
    root = tmp_path / "data"
    make_domain(root, ALPHA)
    make_domain(root, BETA, gzipped=("Beta.train.inter", "Beta.test.inter", "Beta.text", "Beta.item2index"))
    return root


def test_exact_corpus(data_root, tmp_path):
    stats = build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")
    assert read_folder(tmp_path / "out" / "AB") == EXPECTED
    assert (stats.users, stats.items, stats.interactions) == (3, 7, 10)
    assert read_domains(tmp_path / "out" / "AB", "AB") == [("Alpha", 4), ("Beta", 3)]


def test_plain_file_wins_over_gz(data_root, tmp_path):
    # a stale .gz beside the plain file is ignored
    with gzip.open(data_root / "Alpha" / "Alpha.valid.inter.gz", "wt", encoding="utf-8") as handle:
        handle.write(INTER + "\n0\t0\t3\n")
    build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")
    assert read_folder(tmp_path / "out" / "AB") == EXPECTED


def test_domain_order_sets_prefixes(data_root, tmp_path):
    build_corpus(["Beta", "Alpha"], data_root, tmp_path / "out", name="BetaFirst")
    files = read_folder(tmp_path / "out" / "BetaFirst")
    assert files["BetaFirst.domains"] == ["0\tBeta\t3", "1\tAlpha\t4"]
    assert files["BetaFirst.item2index"][:4] == ["0-p\t0-0", "0-q\t0-1", "0-r\t0-2", "1-x\t1-0"]
    assert files["BetaFirst.valid.inter"] == [INTER, "0-0\t0-0\t0-1", "1-0\t1-0\t1-1", "1-1\t1-1 1-2\t1-0"]


def test_corpus_of_write_dataset_output(tmp_path):
    """The converters' output is valid corpus input as it stands."""
    write_dataset(SequenceData("Games", [("g1", ["a", "b", "c", "d"])], {k: k.upper() for k in "abcd"}), tmp_path / "data")
    write_dataset(SequenceData("Garden", [("h1", ["a", "b", "c"])], {k: k.upper() + "!" for k in "abc"}), tmp_path / "data")
    stats = build_corpus(["Games", "Garden"], tmp_path / "data", tmp_path / "out")
    folder = tmp_path / "out" / "Games_Garden"  # same initials: names joined
    assert read_domains(folder, "Games_Garden") == [("Games", 4), ("Garden", 3)]
    assert (stats.users, stats.items, stats.interactions) == (2, 7, 7)
    assert read_folder(folder)["Games_Garden.test.inter"] == [INTER, "0-0\t0-0 0-1 0-2\t0-3", "1-0\t1-0 1-1\t1-2"]


def test_single_domain(data_root, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        stats = build_corpus(["Alpha"], data_root, tmp_path / "out")
    assert "single domain" in caplog.text
    assert (stats.users, stats.items, stats.interactions) == (2, 4, 7)
    files = read_folder(tmp_path / "out" / "A")
    assert files["A.domains"] == ["0\tAlpha\t4"]
    assert files["A.item2index"] == EXPECTED["AB.item2index"][:4]


def test_corpus_name():
    assert corpus_name(["Beauty", "Toys", "Games"]) == "BTG"
    assert corpus_name(["Food", "Home", "CDs", "Kindle", "Movies"]) == "FHCKM"
    assert corpus_name(["Scientific", "Sports"]) == "Scientific_Sports"


def test_unknown_domain(data_root, tmp_path):
    with pytest.raises(ValueError) as caught:
        build_corpus(["Alpha", "Gamma"], data_root, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert "unknown domain Gamma" in message and "Alpha, Beta" in message
    assert not (tmp_path / "out").exists()


def test_duplicate_and_empty_domain_lists(data_root, tmp_path):
    with pytest.raises(ValueError, match="listed twice"):
        build_corpus(["Alpha", "Beta", "Alpha"], data_root, tmp_path / "out")
    with pytest.raises(ValueError, match="at least one"):
        build_corpus([], data_root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_domain_file(data_root, tmp_path):
    (data_root / "Beta" / "Beta.text.gz").unlink()
    with pytest.raises(DataFormatError, match=r"Beta\.text: domain Beta: file not found"):
        build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")
    assert not (tmp_path / "out" / "AB").exists()


@pytest.mark.parametrize(
    "filename,lines,line,words",
    [
        ("Beta.valid.inter", [INTER, "0\t0\t7"], 2, "item index '7' is not in the item2index"),
        ("Beta.valid.inter", [INTER, "3\t0\t1"], 2, "user index '3' is not in the user2index"),
        ("Beta.valid.inter", [INTER, "0\t0 1"], 2, "3 tab-separated columns"),
        ("Beta.valid.inter", ["user_id\titem_id", "0\t0\t1"], 1, "expected the header"),
        ("Beta.item2index", ["p\t0", "q\t2", "r\t1"], 2, "out of order"),
        ("Beta.item2index", ["p\t0", "p\t1"], 2, "listed twice"),
        ("Beta.user2index", ["uc 0"], 1, "raw id<TAB>index"),
        ("Beta.text", [TEXT, "p\tP\textra"], 2, "expected 2 tab-separated columns, got 3"),
    ],
)
def test_bad_domain_file(data_root, tmp_path, filename, lines, line, words):
    for stale in (data_root / "Beta").glob(filename + "*"):
        stale.unlink()
    make_domain(data_root, {filename: lines})
    out = tmp_path / "out"
    with pytest.raises(DataFormatError) as caught:
        build_corpus(["Alpha", "Beta"], data_root, out)
    assert f"{data_root / 'Beta' / filename}:{line}:" in str(caught.value)
    assert words in str(caught.value)
    assert not (out / "AB").exists()
    assert not any(out.iterdir())  # no temporary folder left either


def test_item_without_text(data_root, tmp_path):
    (data_root / "Beta" / "Beta.text.gz").unlink()
    make_domain(data_root, {"Beta.text": [TEXT, "p\tP text.", "r\tR text."]})
    with pytest.raises(DataFormatError, match=r"Beta\.text: item 'q' of the item2index has no text"):
        build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")


def test_failed_rebuild_keeps_old_corpus(data_root, tmp_path):
    build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")
    make_domain(data_root, {"Beta.valid.inter": [INTER, "0\t0\t9"]})
    with pytest.raises(DataFormatError):
        build_corpus(["Alpha", "Beta"], data_root, tmp_path / "out")
    assert read_folder(tmp_path / "out" / "AB") == EXPECTED


def test_refuses_to_overwrite_a_domain(data_root):
    with pytest.raises(ValueError, match="overwrite"):
        build_corpus(["Alpha", "Beta"], data_root, data_root, name="Alpha")


def test_read_domains_errors(tmp_path):
    path = tmp_path / "C.domains"
    path.write_text("0\tAlpha\t4\n2\tBeta\t3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{path}:2: domain position '2' out of order"):
        read_domains(tmp_path, "C")
    path.write_text("0\tAlpha\tmany\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{path}:1: item count 'many'"):
        read_domains(tmp_path, "C")
    with pytest.raises(DataFormatError, match="file not found"):
        read_domains(tmp_path, "Missing")
