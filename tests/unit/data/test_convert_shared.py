"""Converters of the shared data folders: exact output for a hand-made sample of each format,
the registry, and (where ../shared/data exists) the real Scientific split reproduced byte for byte."""
from __future__ import annotations

from pathlib import Path

import pytest

from recbole_unisrec.data.convert import SHARED_SOURCES, convert_all_shared, convert_shared
from recbole_unisrec.data.convert.common import INTER_HEADER, TEXT_HEADER, DatasetStats

SHARED_DATA = Path(__file__).parents[3].parent / "shared" / "data"
SUFFIXES = ("train.inter", "valid.inter", "test.inter", "text", "item2index", "user2index")


def read_layout(out_root: Path, name: str) -> dict[str, list[str]]:
    """The six files of a written data set as lists of lines; every file must end with a newline."""
    layout = {}
    for suffix in SUFFIXES:
        content = (out_root / name / f"{name}.{suffix}").read_text(encoding="utf-8")
        assert content.endswith("\n")
        layout[suffix] = content.split("\n")[:-1]
    return layout


def layout(train, valid, test, text, item2index, user2index) -> dict[str, list[str]]:
    return {
        "train.inter": [INTER_HEADER, *train],
        "valid.inter": [INTER_HEADER, *valid],
        "test.inter": [INTER_HEADER, *test],
        "text": [TEXT_HEADER, *text],
        "item2index": list(item2index),
        "user2index": list(user2index),
    }


def _steam_train() -> list[str]:
    return [f"0\t{' '.join(str(i) for i in range(target))}\t{target}" for target in range(9, 0, -1)] + ["1\t12\t13"]


_STEAM_ITEMS = [*range(1, 13), 20, 21, 22, 23, 30, 31, 32, 40, 41, 42, 43]

EXPECTED: dict[str, tuple[dict[str, list[str]], DatasetStats]] = {
    "Scientific": (layout(
        train=["0\t0\t1"],
        valid=["0\t0 1\t2", "1\t1\t4"],
        test=["0\t0 1 2\t3", "1\t1 4\t0"],
        text=["I0\tZero tool. Industrial & Scientific. Acme.", "I1\tOne & more.", "I2\tTwo.", "I3\tThree.", "I4\tFour."],
        item2index=["I0\t0", "I1\t1", "I2\t2", "I3\t3", "I4\t4"],
        user2index=["UA\t0", "UB\t1"],
    ), DatasetStats(2, 5, 7, 0)),
    "Office": (layout(
        train=["1\t2 1\t0", "1\t2\t1"],
        valid=["0\t0\t1", "1\t2 1 0\t3"],
        test=["0\t0 1\t2", "1\t2 1 0 3\t4"],
        text=["A1\tStapler Staplers Acme", "A2\tPen Pens Bic", "A3\tPaper Paper Hammermill", "A4\tTape Tape 3M", "A5\tInk Ink HP"],
        item2index=["A1\t0", "A2\t1", "A3\t2", "A4\t3", "A5\t4"],
        user2index=["9\t0", "10\t1"],
    ), DatasetStats(2, 5, 8, 0)),
    "Beauty": (layout(
        train=["1\t2\t3"],
        valid=["0\t0\t1", "1\t2 3\t0"],
        test=["0\t0 1\t2", "1\t2 3 0\t1"],
        text=["0\tRed & Polish. Beauty Makeup Nails Nail Care.", "1\tBlue polish. Beauty Makeup Nails.", "2\tGreen.", "3\tLipstick."],
        item2index=["0\t0", "1\t1", "2\t2", "3\t3"],
        user2index=["1\t0", "2\t1"],
    ), DatasetStats(2, 4, 7, 1)),
    "Yelp": (layout(
        train=[],
        valid=["0\t0\t1"],
        test=["0\t0 1\t0"],
        text=["0\tMoon Congee. Restaurants, Chinese.", "1\tFairy Nails. Beauty & Spas."],
        item2index=["0\t0", "1\t1"],
        user2index=["1\t0"],
    ), DatasetStats(1, 2, 3, 0)),
    "Games": (layout(
        train=["0\t0\t1", "2\t5 6\t7", "2\t5\t6"],
        valid=["0\t0 1\t2", "1\t1\t4", "2\t5 6 7\t8"],
        test=["0\t0 1 2\t3", "1\t1 4\t0", "2\t5 6 7 8\t9"],
        text=[f"{i}\tGame {i}" for i in (5, 6, 7, 8, 9, 14, 10, 11, 12, 13)],
        item2index=[f"{item}\t{index}" for index, item in enumerate((5, 6, 7, 8, 9, 14, 10, 11, 12, 13))],
        user2index=["0\t0", "1\t1", "2\t2"],
    ), DatasetStats(3, 10, 12, 0)),
    "MicroLens": (layout(
        train=[],
        valid=["0\t0\t1", "1\t0\t1", "2\t2\t0"],
        test=["0\t0 1\t2", "1\t0 1\t3", "2\t2 0\t1"],
        text=["10\t# Yummy food", "11\t西班牙 公主", "12\tcats", "13\tdogs"],
        item2index=["10\t0", "11\t1", "12\t2", "13\t3"],
        user2index=["1\t0", "2\t1", "3\t2"],
    ), DatasetStats(3, 4, 9, 0)),
    "LastFM": (layout(
        train=["0\t0\t1"],
        valid=["0\t0 1\t2", "1\t1\t4", "2\t6\t0"],
        test=["0\t0 1 2\t3", "1\t1 4\t5", "2\t6 0\t1"],
        text=["0\tMorcheeba", "1\tEnigma", "2\tCafé Del Mar", "3\tA::B", "4\tFour", "6\tSix", "7\tSeven"],
        item2index=["0\t0", "1\t1", "2\t2", "3\t3", "4\t4", "6\t5", "7\t6"],
        user2index=["train-1\t0", "valid-1\t1", "test-1\t2"],
    ), DatasetStats(3, 7, 10, 1)),
    "Steam": (layout(
        train=_steam_train(),
        valid=["0\t0 1 2 3 4 5 6 7 8 9\t10", "1\t12 13\t14", "2\t16\t17", "3\t19\t20", "4\t19\t20"],
        test=["0\t0 1 2 3 4 5 6 7 8 9 10\t11", "1\t12 13 14\t15", "2\t16 17\t18", "3\t19 20\t21", "4\t19 20\t22"],
        text=[f"{i}\t{'Depths of Fear :: Knossos' if i == 31 else f'Game {i}'}" for i in _STEAM_ITEMS],
        item2index=[f"{item}\t{index}" for index, item in enumerate(_STEAM_ITEMS)],
        user2index=["train-2\t0", "train-4\t1", "valid-3\t2", "test-4\t3", "test-5\t4"],
    ), DatasetStats(5, 23, 25, 2)),
    "ML-100k": (layout(
        train=[],
        valid=["0\t0\t1", "1\t3\t4"],
        test=["0\t0 1\t2", "1\t3 4\t5"],
        text=["7\tTwelve Monkeys. 1995. Sci-Fi.", "1\tToy Story. 1995. Animation Children's Comedy.", "2\tGoldenEye. 1995. Action.",
              "4\tGet Shorty. 1995. Comedy Drama.", "3\tFour Rooms. 1995. Thriller.", "5\tCopycat. 1995. Crime."],
        item2index=["7\t0", "1\t1", "2\t2", "4\t3", "3\t4", "5\t5"],
        user2index=["9\t0", "10\t1"],
    ), DatasetStats(2, 6, 6, 0)),
    "ML-1M": (layout(
        train=["1\t2\t0"],
        valid=["0\t0\t1", "1\t2 0\t3"],
        test=["0\t0 1\t2", "1\t2 0 3\t1"],
        text=["1\tToy Story 1995 Animation.", "3497\tMax Dugan Returns 1983 Comedy.",
              "491\tMan Without a Face, The 1993 Drama.", "2\tJumanji 1995 Adventure."],
        item2index=["1\t0", "3497\t1", "491\t2", "2\t3"],
        user2index=["0\t0", "1\t1"],
    ), DatasetStats(2, 4, 7, 0)),
}
EXPECTED["Toys"] = EXPECTED["Beauty"]  # same format, same sample


def test_registry_names_and_folders():
    assert list(SHARED_SOURCES) == ["Scientific", "Office", "Beauty", "Toys", "Games", "Yelp", "MicroLens",
                                    "LastFM", "Steam", "ML-100k", "ML-1M"]
    assert {folder for folder, _ in SHARED_SOURCES.values()} == {
        "amazon2018-scientific", "amazon2014-office", "amazon2014-beauty", "amazon2014-toys", "amazon2018-games", "yelp",
        "microlens-50k", "lastfm", "steam-sample", "movielens-100k", "movielens-1m-recent"}
    assert set(EXPECTED) == set(SHARED_SOURCES)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_sample_converts_exactly(name, shared_sample, tmp_path):
    expected_files, expected_stats = EXPECTED[name]
    stats = convert_shared(name, shared_sample(name), tmp_path / "out")
    assert stats == expected_stats
    assert read_layout(tmp_path / "out", name) == expected_files
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [name]


def test_scientific_sample_round_trips_byte_for_byte(shared_sample, tmp_path):
    folder = shared_sample("Scientific") / "amazon2018-scientific"
    convert_shared("Scientific", folder.parent, tmp_path / "out")
    for suffix in ("train.inter", "valid.inter", "test.inter", "item2index", "user2index"):
        name = f"Scientific.{suffix}"
        assert (tmp_path / "out" / "Scientific" / name).read_bytes() == (folder / name).read_bytes(), name


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'Nope'; known: Scientific, Office, .*ML-1M"):
        convert_shared("Nope", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_convert_all_shared(all_shared_samples, tmp_path):
    stats = convert_all_shared(all_shared_samples, tmp_path / "out")
    assert stats == {name: EXPECTED[name][1] for name in SHARED_SOURCES}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(SHARED_SOURCES)


def test_rerun_replaces_the_folder(shared_sample, tmp_path):
    root = shared_sample("Yelp")
    (tmp_path / "out" / "Yelp").mkdir(parents=True)
    (tmp_path / "out" / "Yelp" / "stale.txt").write_text("old")
    convert_shared("Yelp", root, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "Yelp").iterdir()) == [f"Yelp.{s}" for s in sorted(SUFFIXES)]


# --- the real shared data (skipped where ../shared/data is absent) -----------------------------

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} not present")


@needs_shared
def test_real_scientific_split_is_reproduced_byte_for_byte(tmp_path):
    stats = convert_shared("Scientific", SHARED_DATA, tmp_path)
    assert stats == DatasetStats(8442, 4385, 59427, 0)
    source = SHARED_DATA / "amazon2018-scientific"
    for suffix in ("train.inter", "valid.inter", "test.inter", "item2index", "user2index"):
        name = f"Scientific.{suffix}"
        assert (tmp_path / "Scientific" / name).read_bytes() == (source / name).read_bytes(), name


@needs_shared
@pytest.mark.parametrize("name, expected", [
    ("Office", DatasetStats(4905, 2420, 53258, 0)),      # README: 4,905 / 2,420 / 53,258
    ("LastFM", DatasetStats(1220, 4606, 56794, 0)),      # README: 1,220 sequences / 4,606 / 56,794
    ("Steam", DatasetStats(3380, 3015, 33398, 2)),       # 3,388 windows; 6 chained pairs; 2 too short
    ("ML-100k", DatasetStats(943, 1682, 100000, 0)),     # README: 943 / 1,682 / 100,000
])
def test_real_small_sources_counts(name, expected, tmp_path):
    assert convert_shared(name, SHARED_DATA, tmp_path) == expected
