"""The shipped data sets in dataset/ have the counts that dataset/README.md states."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from recbole_unisrec.data.layout import SHIPPED_DATA, read_item_tokens

EXPECTED = {  # users, items, interactions (dataset/README.md)
    "Scientific": (8442, 4385, 59427),
    "Office": (4905, 2420, 53258),
    "Beauty": (22363, 12101, 198502),
    "Toys": (19412, 11924, 167597),
    "Games": (50546, 16859, 440264),
    "Yelp": (30431, 20033, 316354),
    "MicroLens": (49887, 19217, 359048),
    "LastFM": (1220, 4606, 56794),
    "Steam": (3380, 3015, 33398),
    "ML-100k": (943, 1682, 100000),
    "ML-1M": (6040, 3391, 275761),
    "OnlineRetail": (38, 611, 1042),
}


def _rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n")
        assert header == "user_id:token\titem_id_list:token_seq\titem_id:token"
        return [line.rstrip("\n").split("\t") for line in handle]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_counts(name: str) -> None:
    folder = SHIPPED_DATA / name
    train, valid, test = (_rows(folder / f"{name}.{split}.inter.gz") for split in ("train", "valid", "test"))
    users = {row[0] for row in test}
    items = set(read_item_tokens(folder, name))
    interactions = len(train) + len(valid) + len(test) + len(users)  # every row is one target, plus each first item
    assert (len(users), len(items), interactions) == EXPECTED[name]
    assert len(valid) == len(test) == len(users)
    seen = {token for rows in (train, valid, test) for row in rows for token in [*row[1].split(), row[2]]}
    assert seen == items
    texts = (folder / f"{name}.text").read_text(encoding="utf-8").splitlines()
    assert len(texts) == len(items) + 1 and all(line.split("\t")[1].strip() for line in texts[1:])


def test_scientific_split_is_the_papers(shared_data_root) -> None:
    source = shared_data_root / "amazon2018-scientific"
    for split in ("train", "valid", "test"):
        shipped = gzip.open(SHIPPED_DATA / "Scientific" / f"Scientific.{split}.inter.gz", "rb").read()
        assert shipped == (source / f"Scientific.{split}.inter").read_bytes()
