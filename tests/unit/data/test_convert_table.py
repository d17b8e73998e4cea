"""convert table: drops counted by reason, time order with ties in file order, k-core, every input
format read alike, and one-line errors naming file, line and column."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from recbole_unisrec.data.convert.common import INTER_HEADER, TEXT_HEADER, write_dataset
from recbole_unisrec.data.convert.raw.table import k_core_mask, load_table, parse_time
from recbole_unisrec.fileio import DataFormatError

# (user, item, time); comments give the fate of each row
INTERACTIONS = [
    ("u1", "i1", "10"),
    ("u1", "i2", "30"),
    ("u1", "i3", "20"),
    ("u1", "i3", "20"),     # exact duplicate: dropped
    ("u1", "i4", "20"),     # same time as i3: after it (file order)
    ("u2", "i2", "5"),
    ("u2", "ghost", "6"),   # no row in the item table: dropped
    ("u2", "i1", "7"),
    ("u2", "blank", "8"),   # empty text: dropped
    ("u2", "i2", "9"),      # the same item at another time: kept
    ("u3", "i1", "1"),
    ("u3", "i2", "2"),      # u3 has 2 interactions: dropped (leave-one-out needs 3)
]
# (key, title, brand): a title with a comma, one with a newline, HTML entities, empty fields
ITEMS = [("i1", "Pen, blue", "Bic"), ("i2", "Paper\nA4", ""), ("i3", "Ink &amp; toner", "HP"), ("i4", "Stapler", ""),
         ("blank", "", "")]
EXPECTED_DROPS = {"item_not_in_item_table": 1, "item_text_empty": 1, "duplicate": 1, "k_core": 2}
# u1: i1 i3 i4 i2 -> 0 1 2 3; u2: i2 i1 i2 -> 3 0 3
EXPECTED_FILES = {
    "train.inter": [INTER_HEADER, "0\t0\t1"],
    "valid.inter": [INTER_HEADER, "0\t0 1\t2", "1\t3\t0"],
    "test.inter": [INTER_HEADER, "0\t0 1 2\t3", "1\t3 0\t3"],
    "text": [TEXT_HEADER, "i1\tPen, blue. Bic.", "i3\tInk & toner. HP.", "i4\tStapler.", "i2\tPaper A4."],
    "item2index": ["i1\t0", "i3\t1", "i4\t2", "i2\t3"],
    "user2index": ["u1\t0", "u2\t1"],
}


def quoted(value: str, sep: str) -> str:
    return f'"{value}"' if sep in value or "\n" in value or '"' in value else value


def write_delimited(path: Path, header: tuple[str, ...], rows, sep: str = ",") -> Path:
    text = "".join(sep.join(quoted(value, sep) for value in row) + "\n" for row in [header, *rows])
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_jsonl(path: Path, header: tuple[str, ...], rows) -> Path:
    text = "".join(json.dumps(dict(zip(header, row))) + "\n" for row in rows)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_pair(folder: Path, extension: str) -> tuple[Path, Path]:
    """The sample log and item table in one format (``.csv``, ``.tsv.gz``, ``.jsonl`` ...)."""
    base = extension.removesuffix(".gz")
    if base == ".jsonl":  # numbers as JSON numbers, an empty brand as null
        rows = [(user, item, int(time)) for user, item, time in INTERACTIONS]
        items = [(key, title, brand or None) for key, title, brand in ITEMS]
        return (write_jsonl(folder / f"log{extension}", ("user_id", "item_id", "timestamp"), rows),
                write_jsonl(folder / f"items{extension}", ("item_id", "title", "brand"), items))
    sep = "\t" if base == ".tsv" else ","
    return (write_delimited(folder / f"log{extension}", ("user_id", "item_id", "timestamp"), INTERACTIONS, sep),
            write_delimited(folder / f"items{extension}", ("item_id", "title", "brand"), ITEMS, sep))


def read_layout(folder: Path, name: str) -> dict[str, list[str]]:
    return {suffix: (folder / f"{name}.{suffix}").read_text(encoding="utf-8").splitlines() for suffix in EXPECTED_FILES}


@pytest.mark.parametrize("extension", [".csv", ".csv.gz", ".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz"])
def test_every_format_gives_the_same_exact_layout(tmp_path, extension):
    log, items = write_pair(tmp_path, extension)
    data = load_table(log, items, "Mine", time_column="timestamp", text_columns=["title", "brand"], k=0)
    assert data.dropped_rows == EXPECTED_DROPS
    assert data.sequences == [("u1", ["i1", "i3", "i4", "i2"]), ("u2", ["i2", "i1", "i2"])]
    stats = write_dataset(data, tmp_path / "out")
    assert (stats.users, stats.items, stats.interactions, stats.dropped_rows) == (2, 4, 7, EXPECTED_DROPS)
    assert read_layout(tmp_path / "out" / "Mine", "Mine") == EXPECTED_FILES


def test_text_columns_join_in_the_given_order(tmp_path):
    log, items = write_pair(tmp_path, ".csv")
    data = load_table(log, items, "Mine", time_column="timestamp", text_columns=["brand", "title"], k=0)
    assert data.texts == {"i1": "Bic. Pen, blue.", "i2": "Paper A4.", "i3": "HP. Ink & toner.", "i4": "Stapler."}


def test_without_a_time_column_file_order_is_time(tmp_path):
    log, items = write_pair(tmp_path, ".csv")
    data = load_table(log, items, "Mine", text_columns=["title"], k=0)
    # no time: nothing is an exact duplicate, and u1's items stay in file order
    assert data.dropped_rows == {**EXPECTED_DROPS, "duplicate": 0}
    assert data.sequences == [("u1", ["i1", "i2", "i3", "i3", "i4"]), ("u2", ["i2", "i1", "i2"])]


def test_iso_dates_and_numbers_order_by_instant(tmp_path):
    rows = [("u", "a", "2020-01-02"), ("u", "b", "2020-01-01T12:00:00+02:00"), ("u", "c", "2020-01-01T11:00:00Z"),
            ("u", "d", "2020-01-01 10:30")]
    log = write_delimited(tmp_path / "log.csv", ("user_id", "item_id", "timestamp"), rows)
    items = write_delimited(tmp_path / "items.csv", ("item_id", "title"), [(key, key.upper()) for key in "abcd"])
    data = load_table(log, items, "Dates", time_column="timestamp", k=0)
    assert data.sequences == [("u", ["b", "d", "c", "a"])]  # 10:00, 10:30, 11:00 UTC, then the next day
    assert parse_time("1.5e9", "f", 1, "t") == 1.5e9 and parse_time(7, "f", 1, "t") == 7.0


def test_k_core_repeats_until_stable(tmp_path):
    # k=2: z and v have one interaction; without them a and d keep 2 (< 3) and go too
    rows = [("a", "x"), ("a", "y"), ("a", "z"), ("b", "x"), ("b", "y"), ("b", "w"),
            ("c", "x"), ("c", "y"), ("c", "w"), ("d", "w"), ("d", "v"), ("d", "x")]
    log = write_delimited(tmp_path / "log.csv", ("user", "item"), rows)
    items = write_delimited(tmp_path / "items.csv", ("item_id", "title"), [(key, key) for key in "xyzwv"])
    data = load_table(log, items, "Core", user_column="user", item_column="item", k=2)
    assert data.sequences == [("b", ["x", "y", "w"]), ("c", ["x", "y", "w"])]
    assert data.dropped_rows == {"item_not_in_item_table": 0, "item_text_empty": 0, "duplicate": 0, "k_core": 6}
    assert set(data.texts) == {"x", "y", "w"}


def test_k_core_mask_cascades_to_nothing():
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    items = np.array([0, 1, 2, 0, 1, 3, 3, 2])
    assert not k_core_mask(users, items, user_min=3, item_min=2).any()
    assert k_core_mask(users, items, user_min=3, item_min=1).tolist() == [True] * 6 + [False] * 2


def test_quoted_record_over_two_lines_keeps_later_line_numbers(tmp_path):
    log, _ = write_pair(tmp_path, ".csv")
    items = tmp_path / "items.csv"
    items.write_text('item_id,title\ni1,"two\nlines"\n,no key\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"items\.csv:4: column 'item_id': empty id$"):
        load_table(log, items, "Mine")
    items.write_text('item_id,title\ni1,Pen\ni2,"two\nlines",extra\n', encoding="utf-8")  # named by its first line
    with pytest.raises(DataFormatError, match=r"items\.csv:3: expected 2 fields as in the header, found 3$"):
        load_table(log, items, "Mine")


@pytest.mark.parametrize("log_text, options, line, message", [
    ("user_id,item_id,when\nu,i1,1\n", {"time_column": "timestamp"}, 1,
     "no column 'timestamp'; the header has user_id, item_id, when"),
    ("user_id,item_id,timestamp\nu,i1,1\n,i1,2\n", {}, 3, "column 'user_id': empty id"),
    ('user_id,item_id,timestamp\nu,i1,1\nu,"",2\n', {}, 3, "column 'item_id': empty id"),
    ("user_id,item_id,timestamp\nu,i1,1\nu,i1,yesterday\n", {"time_column": "timestamp"}, 3,
     "column 'timestamp': 'yesterday' is neither a number nor an ISO-8601 date"),
    ("user_id,item_id,timestamp\nu,i1,1\nu,i1,nan\n", {"time_column": "timestamp"}, 3,
     "column 'timestamp': 'nan' is not a finite time"),
    ("user_id,item_id,timestamp\nu,i1\n", {}, 2, "expected 3 fields as in the header, found 2"),
    ("user_id,item_id\nu v,i1\n", {}, 2, "column 'user_id': id 'u v' contains whitespace"),
    ("", {}, 1, "empty file: expected a header row"),
])
def test_bad_interactions_name_file_line_and_column(tmp_path, log_text, options, line, message):
    _, items = write_pair(tmp_path, ".csv")
    log = tmp_path / "log.csv"
    log.write_text(log_text, encoding="utf-8")
    with pytest.raises(DataFormatError) as error:
        load_table(log, items, "Mine", **options)
    assert str(error.value) == f"{log}:{line}: {message}"


def test_bad_jsonl_names_line_and_keys(tmp_path):
    _, items = write_pair(tmp_path, ".csv")
    log = tmp_path / "log.jsonl"
    log.write_text('{"user_id": "u", "item_id": "i1"}\n\n{"user_id": "u", "item": "i2"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError) as error:
        load_table(log, items, "Mine")
    assert str(error.value) == f"{log}:3: no column 'item_id'; the record has user_id, item"


def test_bad_item_table_names_file_line_and_column(tmp_path):
    log, _ = write_pair(tmp_path, ".csv")
    items = write_delimited(tmp_path / "items.csv", ("id", "title"), [("i1", "Pen")])
    with pytest.raises(DataFormatError) as error:
        load_table(log, items, "Mine")
    assert str(error.value) == f"{items}:1: no column 'item_id'; the header has id, title"
    items.write_text("item_id,title\ni1,Pen\ni1,Pencil\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"items\.csv:3: duplicate 'item_id' key 'i1'$"):
        load_table(log, items, "Mine")


@pytest.mark.parametrize("name, message", [
    ("log.xlsx", "unknown format '.xlsx'; expected .csv, .tsv or .jsonl, each optionally .gz"),
    ("log", "unknown format '(no extension)'; expected .csv, .tsv or .jsonl, each optionally .gz"),
    ("log.parquet", "Parquet is not supported (it would need pyarrow); expected .csv, .tsv or .jsonl, each optionally .gz"),
])
def test_unknown_format_is_refused_before_reading(tmp_path, name, message):
    log = tmp_path / name
    log.write_text("user_id,item_id\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as error:
        load_table(log, tmp_path / "items.never-read", "Mine")
    assert str(error.value) == f"{log}: {message}"


def test_corrupt_gzip_and_bad_utf8_name_the_file(tmp_path):
    _, items = write_pair(tmp_path, ".csv")
    log = tmp_path / "log.csv.gz"
    log.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=r"log\.csv\.gz: not a readable gzip file"):
        load_table(log, items, "Mine")
    log = tmp_path / "log.csv"
    log.write_bytes(b"user_id,item_id\nu,i1\nu,\xff\n")
    with pytest.raises(DataFormatError, match=r"log\.csv:3: not UTF-8 text"):
        load_table(log, items, "Mine")


def test_nothing_survives_is_an_error_that_counts_the_drops(tmp_path):
    log, items = write_pair(tmp_path, ".csv")
    with pytest.raises(DataFormatError, match=r"log\.csv: no user keeps 50 or more interactions after the filters"):
        load_table(log, items, "Mine", time_column="timestamp", k=50)
    with pytest.raises(ValueError, match="-k must be 0 or more"):
        load_table(log, items, "Mine", k=-1)


def test_shipped_example_converts_as_its_readme_says(tmp_path):
    example = Path(__file__).parents[3] / "examples" / "your-own-data"
    data = load_table(example / "interactions.csv", example / "items.csv", "MyShop", time_column="timestamp",
                      text_columns=["title", "category", "brand"])
    stats = write_dataset(data, tmp_path)
    assert (stats.users, stats.items, stats.interactions) == (144, 127, 853)
    assert stats.dropped_rows == {"item_not_in_item_table": 0, "item_text_empty": 0, "duplicate": 0, "k_core": 47}
