"""write_dataset: leave-one-out split, truncation, row order, dropping short users, atomicity."""
from __future__ import annotations

import pytest

from recbole_unisrec.data.convert.common import INTER_HEADER, TEXT_HEADER, DatasetStats, SequenceData, write_dataset
from recbole_unisrec.fileio import DataFormatError

TEXTS = {"a": "  Alpha &amp; omega\n", "b": "Beta", "c": "Gamma\tray", "d": "Delta", "e": "Epsilon", "f": "Phi"}


def lines(path):
    content = path.read_text(encoding="utf-8")
    assert content.endswith("\n")
    return content.split("\n")[:-1]


def test_split_truncation_order_and_drop(tmp_path):
    data = SequenceData("Tiny", [("u1", list("abcde")), ("u2", ["x", "y"]), ("u3", ["c", "f", "a"])], TEXTS, "texts.tsv")
    stats = write_dataset(data, tmp_path, max_seq_len=2)
    assert stats == DatasetStats(users=2, items=6, interactions=8, dropped_users=1)
    folder = tmp_path / "Tiny"
    # u1 -> 0 (a0 b1 c2 d3 e4); u2 dropped (2 items, and x/y need no text); u3 -> 1 (c2 f5 a0)
    assert lines(folder / "Tiny.train.inter") == [INTER_HEADER, "0\t0 1\t2", "0\t0\t1"]  # longest first, cut to 2
    assert lines(folder / "Tiny.valid.inter") == [INTER_HEADER, "0\t1 2\t3", "1\t2\t5"]
    assert lines(folder / "Tiny.test.inter") == [INTER_HEADER, "0\t2 3\t4", "1\t2 5\t0"]
    assert lines(folder / "Tiny.text") == [TEXT_HEADER, "a\tAlpha & omega", "b\tBeta", "c\tGamma ray", "d\tDelta",
                                           "e\tEpsilon", "f\tPhi"]
    assert lines(folder / "Tiny.item2index") == ["a\t0", "b\t1", "c\t2", "d\t3", "e\t4", "f\t5"]
    assert lines(folder / "Tiny.user2index") == ["u1\t0", "u3\t1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Tiny"]


def test_default_truncation_is_50(tmp_path):
    items = [f"i{n}" for n in range(60)]
    write_dataset(SequenceData("Long", [("u", items)], {item: item for item in items}), tmp_path)
    test_row = lines(tmp_path / "Long" / "Long.test.inter")[1]
    assert test_row == "0\t" + " ".join(str(n) for n in range(9, 59)) + "\t59"
    train = lines(tmp_path / "Long" / "Long.train.inter")[1:]
    assert len(train) == 57 and train[-1] == "0\t0\t1"


def test_missing_text_names_the_text_source_and_writes_nothing(tmp_path):
    data = SequenceData("Tiny", [("u1", ["a", "b", "zz"])], TEXTS, "texts.tsv")
    with pytest.raises(DataFormatError, match=r"^texts\.tsv: item 'zz' has no text$"):
        write_dataset(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_usable_user_is_an_error(tmp_path):
    with pytest.raises(DataFormatError, match="has no user with 3 or more interactions"):
        write_dataset(SequenceData("Tiny", [("u1", ["a", "b"])], TEXTS, "texts.tsv"), tmp_path)


def test_duplicate_user_and_bad_name(tmp_path):
    with pytest.raises(ValueError, match="appears twice"):
        write_dataset(SequenceData("Tiny", [("u", list("abc")), ("u", list("abc"))], TEXTS), tmp_path)
    with pytest.raises(ValueError, match="must be letters"):
        write_dataset(SequenceData("../evil", [("u", list("abc"))], TEXTS), tmp_path)
