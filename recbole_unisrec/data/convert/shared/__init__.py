"""Converters for the source formats of the shared data folders (``../shared/data``), from which
the shipped data sets (``dataset/``) are built (``convert shared``).

``SHARED_SOURCES`` maps each canonical data set name to its folder under the shared data root
and the loader that reads that folder; :func:`convert_shared` converts one, :func:`convert_all_shared`
all of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from recbole_unisrec.data.convert.common import DatasetStats, SequenceData, write_dataset
from recbole_unisrec.data.convert.shared.llara import load_lastfm, load_steam
from recbole_unisrec.data.convert.shared.movielens import load_ml100k
from recbole_unisrec.data.convert.shared.office import load_office
from recbole_unisrec.data.convert.shared.p5 import load_beauty, load_microlens, load_toys, load_yelp
from recbole_unisrec.data.convert.shared.unisrec_files import load_games, load_ml1m, load_scientific

# Canonical name -> (shared folder name, loader). online-retail-sample has its own converter
# (``raw.online_retail``), as have raw Amazon 2018 files (``raw.amazon2018_raw``).
SHARED_SOURCES: dict[str, tuple[str, Callable[[Path], SequenceData]]] = {
    "Scientific": ("amazon2018-scientific", load_scientific),
    "Office": ("amazon2014-office", load_office),
    "Beauty": ("amazon2014-beauty", load_beauty),
    "Toys": ("amazon2014-toys", load_toys),
    "Games": ("amazon2018-games", load_games),
    "Yelp": ("yelp", load_yelp),
    "MicroLens": ("microlens-50k", load_microlens),
    "LastFM": ("lastfm", load_lastfm),
    "Steam": ("steam-sample", load_steam),
    "ML-100k": ("movielens-100k", load_ml100k),
    "ML-1M": ("movielens-1m-recent", load_ml1m),
}


def convert_shared(name: str, shared_root: Path, out_root: Path) -> DatasetStats:
    """Convert the shared folder of data set ``name`` into ``out_root/<name>/`` (whole or not at all)."""
    if name not in SHARED_SOURCES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(SHARED_SOURCES)}")
    folder, loader = SHARED_SOURCES[name]
    data = loader(Path(shared_root) / folder)
    if data.name != name:
        raise AssertionError(f"loader for {name} returned data set {data.name}")
    return write_dataset(data, out_root)


def convert_all_shared(shared_root: Path, out_root: Path) -> dict[str, DatasetStats]:
    """Convert every data set of ``SHARED_SOURCES``; stops at the first bad one."""
    return {name: convert_shared(name, shared_root, out_root) for name in SHARED_SOURCES}
