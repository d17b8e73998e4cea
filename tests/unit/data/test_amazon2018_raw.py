"""Amazon 2018 raw converter: exact output, deterministic ties, k-core, errors naming file:line."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from recbole_unisrec.data.convert.raw.amazon2018_raw import k_core_filter, load_amazon2018, usable_title
from recbole_unisrec.data.convert.common import write_dataset
from recbole_unisrec.fileio import DataFormatError

META = [
    {"asin": "I1", "title": "Red &amp; Blue  Pen", "category": ["Office", "Pens", "Gel"], "brand": "Acme"},
    {"asin": "I1", "title": "A later duplicate line", "category": [], "brand": "Other"},
    {"asin": "I2", "title": "Notebook", "category": ["Office"], "brand": ""},
    {"asin": "I3", "title": "Stapler.", "category": [], "brand": "Bolt"},
    {"asin": "I4", "title": "", "category": ["Office"]},
    {"asin": "I5", "title": "<span class=\"x\">Lamp</span>", "category": ["Office"]},
    {"asin": "I6", "title": "A" * 1001, "category": ["Office"]},
    {"asin": "I7", "title": "Tape", "category": ["Office", "Office Supplies", "Tape"], "brand": "  Tape\nCo "},
    {"asin": "I8", "title": "Glue"},
    {"asin": "I9", "category": ["Office"]},
    {"asin": "I9", "title": "Ruler", "category": ["Office", "<b>bad</b>"], "tech1": "ignored"},
]

RATINGS = [
    "I1,U1,5.0,100",
    "I2,U1,4.0,100",  # same second as I1: ordered by item id
    "I3,U1,3.0,50",
    "I4,U1,5.0,10",  # empty title: dropped
    "I1,U1,1.0,200",  # duplicate (U1, I1): the earliest rating (time 100) is kept
    "I2,U2,5.0,300",
    "I3,U2,5.0,300",
    "I1,U2,5.0,250",
    "I9,U2,5.0,400",
    "I9,U3,5.0,10",
    "I7,U3,5.0,20",
    "I5,U3,5.0,30",  # HTML title: dropped
    "I6,U3,5.0,40",  # title too long: dropped
    "I8,U4,5.0,5",  # I8 has one rating: removed by the 2-core, then U4 has one: removed too
    "I7,U4,5.0,6",
    "I7,U5,5.0,1",
    "I9,U5,5.0,1",
    "I2,U5,5.0,3",
    "I0,U5,5.0,2",  # no metadata at all: dropped
]

EXPECTED = {
    "Office.train.inter": ["user_id:token\titem_id_list:token_seq\titem_id:token", "1\t1\t2"],
    "Office.valid.inter": ["user_id:token\titem_id_list:token_seq\titem_id:token", "0\t0\t1", "1\t1 2\t0", "2\t4\t3"],
    "Office.test.inter": ["user_id:token\titem_id_list:token_seq\titem_id:token", "0\t0 1\t2", "1\t1 2 0\t3", "2\t4 3\t2"],
    "Office.text": [
        "item_id:token\ttext:token_seq",
        "I3\tStapler. Bolt.",
        "I1\tRed & Blue Pen. Pens Gel. Acme.",
        "I2\tNotebook. Office.",
        "I9\tRuler. Office.",
        "I7\tTape. Office Supplies Tape. Tape Co.",
    ],
    "Office.item2index": ["I3\t0", "I1\t1", "I2\t2", "I9\t3", "I7\t4"],
    "Office.user2index": ["U1\t0", "U2\t1", "U5\t2"],
}


def write_meta(path: Path, records: list, extra_lines: list[bytes] = ()) -> Path:
    with gzip.open(path, "wb") as handle:
        for record in records:
            handle.write(json.dumps(record).encode("utf-8") + b"\n")
        for line in extra_lines:
            handle.write(line + b"\n")
    return path


def write_ratings(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def convert(tmp_path: Path, ratings: list[str], meta: list, tag: str = "run", **kwargs) -> Path:
    source = tmp_path / f"src-{tag}"
    source.mkdir()
    data = load_amazon2018(
        write_ratings(source / "Office_Products.csv", ratings),
        write_meta(source / "meta_Office_Products.json.gz", meta),
        "Office",
        **kwargs,
    )
    out = tmp_path / f"out-{tag}"
    write_dataset(data, out)
    return out / "Office"


def read_folder(folder: Path) -> dict[str, list[str]]:
    return {path.name: path.read_text(encoding="utf-8").splitlines() for path in sorted(folder.iterdir())}


def test_exact_output(tmp_path):
    folder = convert(tmp_path, RATINGS, META, user_k=2, item_k=2)
    assert read_folder(folder) == EXPECTED


def test_sequence_data(tmp_path):
    data = load_amazon2018(
        write_ratings(tmp_path / "r.csv", RATINGS), write_meta(tmp_path / "meta.json.gz", META), "Office", user_k=2, item_k=2
    )
    assert data.sequences == [("U1", ["I3", "I1", "I2"]), ("U2", ["I1", "I2", "I3", "I9"]), ("U3", ["I9", "I7"]), ("U5", ["I7", "I9", "I2"])]
    assert set(data.texts) == {"I1", "I2", "I3", "I7", "I9"}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_input_order_does_not_matter(tmp_path, seed):
    rng = random.Random(seed)
    ratings = RATINGS[:]
    rng.shuffle(ratings)
    # the metadata's "first usable line wins" rule is order-dependent by design: keep I1's first line first
    meta = [record for record in META if record.get("title") != "A later duplicate line"]
    rng.shuffle(meta)
    folder = convert(tmp_path, ratings, meta, user_k=2, item_k=2)
    assert read_folder(folder) == EXPECTED


def test_default_five_core(tmp_path):
    meta = [{"asin": f"I{i}", "title": f"Item {i}"} for i in range(6)]
    ratings = [f"I{i},U{u},5.0,{10 * u + i}" for u in range(5) for i in range(5)]
    ratings += ["I5,U9,1.0,1", "I0,U9,1.0,2", "I1,U9,1.0,3", "I2,U9,1.0,4"]  # U9 has 4 ratings, I5 one
    data = load_amazon2018(write_ratings(tmp_path / "r.csv", ratings), write_meta(tmp_path / "m.json.gz", meta), "Office")
    assert [user for user, _ in data.sequences] == ["U0", "U1", "U2", "U3", "U4"]
    assert all(items == ["I0", "I1", "I2", "I3", "I4"] for _, items in data.sequences)
    assert sorted(data.texts) == ["I0", "I1", "I2", "I3", "I4"]


def test_k_core_filter_is_iterative():
    rows = [("a", "x"), ("a", "y"), ("b", "y"), ("b", "z"), ("c", "z")]
    # c and x are below 2; without them, a and z fall below 2, then b and y
    assert k_core_filter(rows, 2, 2) == []
    assert k_core_filter(rows, 1, 1) == rows
    assert k_core_filter(rows, 2, 1) == [("a", "x"), ("a", "y"), ("b", "y"), ("b", "z")]


def test_usable_title():
    assert usable_title("  Fine &amp; dandy ") == "Fine & dandy"
    assert usable_title("") is None
    assert usable_title("   ") is None
    assert usable_title(None) is None
    assert usable_title(["list"]) is None
    assert usable_title("see </span> here") is None
    assert usable_title("&lt;b&gt;escaped markup&lt;/b&gt;") is None
    assert usable_title("Resistor < 10 Ohm > 5 Ohm") == "Resistor < 10 Ohm > 5 Ohm"
    assert usable_title("x" * 1000) == "x" * 1000
    assert usable_title("x" * 1001) is None
    assert usable_title("x" * 20, max_chars=10) is None


BAD_RATINGS = [
    ("I1,U1,5.0", 2, "4 comma-separated columns"),
    ("I1,U1,5.0,100,extra", 2, "4 comma-separated columns"),
    ("I1,U1,5.0,yesterday", 2, "time 'yesterday'"),
    ("I1,U1,5.0,1.5e9", 2, "time"),
    ("I1,U1,five,100", 2, "rating 'five'"),
    ("I1,U1,nan,100", 2, "rating 'nan'"),
]


@pytest.mark.parametrize("bad_line,line,words", BAD_RATINGS)
def test_bad_rating_line(tmp_path, bad_line, line, words):
    ratings = write_ratings(tmp_path / "r.csv", ["I1,U0,5.0,1", bad_line, "I2,U1,5.0,100"])
    meta = write_meta(tmp_path / "m.json.gz", META)
    with pytest.raises(DataFormatError) as caught:
        write_dataset(load_amazon2018(ratings, meta, "Office", user_k=1, item_k=1), tmp_path / "out")
    assert f"{ratings}:{line}:" in str(caught.value)
    assert words in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_ratings_not_utf8(tmp_path):
    ratings = tmp_path / "r.csv"
    ratings.write_bytes(b"I1,U1,5.0,1\nI2,U\xe9,5.0,2\n")
    with pytest.raises(DataFormatError, match=rf"{ratings}:2: not UTF-8"):
        load_amazon2018(ratings, write_meta(tmp_path / "m.json.gz", META), "Office")


@pytest.mark.parametrize(
    "bad,words",
    [
        (b"{'asin': 'I0', 'title': 'python literal'}", "not a JSON object"),
        (b'{"asin": "I0", "title": "cut', "not a JSON object"),
        (b'["I0", "title"]', "expected a JSON object"),
        (b'{"title": "no asin"}', "no 'asin'"),
        (b'{"asin": "I0", "title": "caf\xe9"}', "not UTF-8"),
    ],
)
def test_bad_meta_line(tmp_path, bad, words):
    meta = write_meta(tmp_path / "m.json.gz", META[:3], extra_lines=[bad])
    ratings = write_ratings(tmp_path / "r.csv", RATINGS)
    with pytest.raises(DataFormatError) as caught:
        write_dataset(load_amazon2018(ratings, meta, "Office", user_k=1, item_k=1), tmp_path / "out")
    assert f"{meta}:4:" in str(caught.value)
    assert words in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_missing_file(tmp_path):
    meta = write_meta(tmp_path / "m.json.gz", META)
    with pytest.raises(DataFormatError, match="file not found"):
        load_amazon2018(tmp_path / "absent.csv", meta, "Office")


def test_gzipped_ratings(tmp_path):
    ratings = tmp_path / "r.csv.gz"
    with gzip.open(ratings, "wt", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in RATINGS)
    data = load_amazon2018(ratings, write_meta(tmp_path / "m.json.gz", META), "Office", user_k=2, item_k=2)
    write_dataset(data, tmp_path / "out")
    assert read_folder(tmp_path / "out" / "Office") == EXPECTED


def test_the_convert_command_writes_the_same_folder(tmp_path, capsys):
    """``python -m recbole_unisrec convert amazon2018`` end to end: the same files as the loader, and its counts."""
    import json

    from recbole_unisrec.__main__ import main

    ratings = write_ratings(tmp_path / "Office_Products.csv", RATINGS)
    meta = write_meta(tmp_path / "meta_Office_Products.json.gz", META)
    assert main(["convert", "amazon2018", "--ratings", str(ratings), "--meta", str(meta), "--name", "Office",
                 "-k", "2", "--out", str(tmp_path / "out")]) == 0
    assert read_folder(tmp_path / "out" / "Office") == EXPECTED
    # U3 (two items) is too short for leave-one-out: 3 users, 3 + 4 + 3 interactions
    assert json.loads(capsys.readouterr().out)["Office"] == {"users": 3, "items": 5, "interactions": 10, "dropped_users": 1}
