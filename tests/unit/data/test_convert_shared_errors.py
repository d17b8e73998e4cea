"""Malformed shared sources: every error names file (and line, where there is one), nothing is written."""
from __future__ import annotations

import re

import pytest

from recbole_unisrec.data.convert import SHARED_SOURCES, convert_shared
from recbole_unisrec.fileio import DataFormatError

INTER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"

# (data set, file overrides, file named in the error, line or None, message pattern)
CASES = [
    # wrong column count / header
    ("Office", {"train.csv": "user_id\titem_id\ttime\n10\t2\n"}, "train.csv", 2, "expected 3 tab-separated columns, found 2"),
    ("Office", {"dev.csv": "user_id\titem_id\ttime\tneg_items\n10\t4\t200\n"}, "dev.csv", 2, "expected 4 tab-separated columns"),
    ("Office", {"train.csv": "user\titem\ttime\n10\t2\t1\n"}, "train.csv", 1, "expected header"),
    ("Games", {"Games.test.inter": INTER + "0\t5 6 7\n"}, "Games.test.inter", 2, "expected 3 tab-separated columns"),
    ("ML-100k", {"ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\n"},
     "ml-100k.item", 2, "expected 4 tab-separated columns, found 2"),
    ("ML-100k", {"ml-100k.inter": "user_id:token\titem_id:token\trating:float\n9\t1\t3\n"}, "ml-100k.inter", 1,
     "header lacks column.*timestamp:float"),
    ("MicroLens", {"seqid2title.tsv": "seq_item_id\tmicrolens_item_id\ttitle\n10\tcats\n"}, "seqid2title.tsv", 2,
     "expected 3 tab-separated columns"),
    ("Steam", {"Val_data.tsv": "history\tlen_seq\tnext\n30 31\t2\n"}, "Val_data.tsv", 2, "expected 3 tab-separated columns"),
    ("LastFM", {"id2name.txt": "0::Morcheeba\n1 Enigma\n"}, "id2name.txt", 2, "expected 'id::name'"),
    # non-numeric ids and times
    ("Office", {"train.csv": "user_id\titem_id\ttime\n10\t2\tyesterday\n"}, "train.csv", 2, "time 'yesterday' is not an integer"),
    ("Beauty", {"sequential_data.txt": "1 0 1 2\n2 2 x 0\n"}, "sequential_data.txt", 2, "item id 'x' is not an integer"),
    ("Yelp", {"sequential_data.txt": "u1 0 1 0\n"}, "sequential_data.txt", 1, "user id 'u1' is not an integer"),
    ("ML-100k", {"ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n9\t1\t3\t5\n9\t2\t3\tnoon\n"},
     "ml-100k.inter", 3, "timestamp 'noon' is not a number"),
    ("ML-100k", {"ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n9\tabc\t3\t5\n"},
     "ml-100k.inter", 2, "item id 'abc' is not an integer"),
    ("Scientific", {"Scientific.valid.inter": INTER + "0\t0 1\t2\nB\t1\t4\n"}, "Scientific.valid.inter", 3,
     "user id 'B' is not an integer"),
    ("LastFM", {"train_data.user_sequences.txt": "0 1 2 3\n4 five\n"}, "train_data.user_sequences.txt", 2,
     "item id 'five' is not an integer"),
    ("Steam", {"Test_data.tsv": "history\tlen_seq\tnext\n20 21 22\tthree\t23\n"}, "Test_data.tsv", 2,
     "len_seq 'three' is not an integer"),
    ("Steam", {"Test_data.tsv": "history\tlen_seq\tnext\n20 21 22\t2\t23\n"}, "Test_data.tsv", 2, "len_seq 2 does not match"),
    ("MicroLens", {"sequential_test.txt": "1\n2 13.5\n3 10 11\n"}, "sequential_test.txt", 2, "item id '13.5' is not an integer"),
    # bad JSON
    ("Beauty", {"id2category.jsonl": '{"item_id": 0, "category": [["Beauty"]]}\n{"item_id": 1, "category": \n'},
     "id2category.jsonl", 2, "bad JSON"),
    ("Toys", {"id2category.jsonl": '["item_id", 0]\n'}, "id2category.jsonl", 1, "integer 'item_id'"),
    ("Yelp", {"id2category.jsonl": '{"item_id": 0, "category": [1, 2]}\n'}, "id2category.jsonl", 1, "must hold strings"),
    # not UTF-8
    ("Beauty", {"id2title.tsv": b"item_id\ttitle\n0\tRed\n1\t\xff\xfe Blue\n2\tGreen\n3\tLipstick\n"}, "id2title.tsv", 3,
     "not UTF-8"),
    ("ML-1M", {"ml-1m.test.inter": INTER.encode() + b"0\t2 0\t1\n1\t1 2 3\t0\xe9\n"}, "ml-1m.test.inter", 3, "not UTF-8"),
    # items without text
    ("Beauty", {"id2title.tsv": "item_id\ttitle\n0\tRed\n1\tBlue\n2\tGreen\n"}, "id2title.tsv", None, "item '3' has no text"),
    ("Yelp", {"id2title.tsv": "item_id\ttitle\n0\t \n1\tFairy Nails\n"}, "id2title.tsv", None, "item '0' has no text"),
    ("Office", {"Office.text": "id\ttext\nA1\tStapler\nA2\tPen\nA3\tPaper\nA4\tTape\n"}, "Office.text", None,
     "item 'A5' has no text"),
    ("Steam", {"id2name.txt": "1::One\n"}, "id2name.txt", None, "has no text"),
    # empty data sets
    ("Beauty", {"sequential_data.txt": ""}, "sequential_data.txt", None, "no sequences"),
    ("Games", {"Games.test.inter": INTER}, "Games.test.inter", None, "no interactions"),
    ("ML-100k", {"ml-100k.inter": ""}, "ml-100k.inter", None, "empty file"),
    ("Yelp", {"sequential_data.txt": "1 0 1\n"}, "id2title.tsv", None, "has no user with 3 or more interactions"),
    # structure: duplicates, disagreements, unknown ids, missing files
    ("Beauty", {"sequential_data.txt": "1 0 1 2\n1 2 3 0\n"}, "sequential_data.txt", 2, "duplicate user '1'"),
    ("Beauty", {"sequential_data.txt": "1 0 1 2\n\n2 2 3 0\n"}, "sequential_data.txt", 2, "blank line"),
    ("ML-1M", {"ml-1m.text": "item_id:token\ttext:token_seq\n1\tA.\n1\tB.\n"}, "ml-1m.text", 3, "duplicate item id '1'"),
    ("ML-1M", {"ml-1m.test.inter": INTER + "0\t2 0\t1\n1\t1 2 7\t0\n"}, "ml-1m.test.inter", 3, "item index 7 is not in"),
    ("Office", {"train.csv": "user_id\titem_id\ttime\n10\t99\t5\n"}, "train.csv", 2, "item id 99 is not in Office.item2index"),
    ("Office", {"Office.text": None}, "Office.text", None, "file not found"),
    ("Games", {"Games.valid.inter": INTER + "0\t5 6\t7\n1\t6\t5\n2\t14 10 11\t12\n"}, "Games.valid.inter", 3,
     "user 1: sequence does not agree with Games.test.inter line 3"),
    ("Games", {"Games.valid.inter": INTER + "0\t5 6\t7\n2\t14 10 11\t12\n"}, "Games.test.inter", 3,
     "user 1 has no row in Games.valid.inter"),
    ("Scientific", {"Scientific.valid.inter": INTER + "0\t0 2\t2\n1\t1\t4\n"}, "Scientific.valid.inter", 2,
     "history does not continue"),
    ("Scientific", {"Scientific.train.inter": INTER}, "Scientific.valid.inter", 2, "earliest row has 2 history items"),
    ("Scientific", {"Scientific.test.inter": INTER + "0\t0 1 2\t9\n1\t1 4\t0\n"}, "Scientific.test.inter", 2,
     "item index 9 is not in"),
    ("Scientific", {"Scientific.test.inter": INTER + "0\t0 1 2\t3\n"}, "Scientific.test.inter", None,
     r"user index 1 \(UB\) has no row"),
    ("MicroLens", {"sequential_valid.txt": "1 12\n2 10 11\n4 13\n"}, "sequential_valid.txt", 3,
     "user 4 has no line in sequential_train.txt"),
]


@pytest.mark.parametrize("name, overrides, file_name, line, message", CASES,
                         ids=[f"{case[0]}-{case[2]}-{index}" for index, case in enumerate(CASES)])
def test_bad_input_names_file_and_line_and_writes_nothing(name, overrides, file_name, line, message, shared_sample, tmp_path):
    root = shared_sample(name, overrides)
    out = tmp_path / "out"
    with pytest.raises(DataFormatError) as caught:
        convert_shared(name, root, out)
    path = root / SHARED_SOURCES[name][0] / file_name
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(caught.value).startswith(where), str(caught.value)
    assert re.search(message, str(caught.value)), str(caught.value)
    assert caught.value.line == line
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_rerun_keeps_the_previous_output(shared_sample, tmp_path):
    out = tmp_path / "out"
    convert_shared("Beauty", shared_sample("Beauty"), out)
    before = {p.name: p.read_bytes() for p in (out / "Beauty").iterdir()}
    broken = shared_sample("Beauty", {"id2title.tsv": "item_id\ttitle\n0\tRed\n"})
    with pytest.raises(DataFormatError):
        convert_shared("Beauty", broken, out)
    assert {p.name: p.read_bytes() for p in (out / "Beauty").iterdir()} == before
    assert [p.name for p in out.iterdir()] == ["Beauty"]
