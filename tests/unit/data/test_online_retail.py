"""UCI Online Retail converter: exact output, ordering, filters, errors naming file:line."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from recbole_unisrec.data.convert.common import write_dataset
from recbole_unisrec.data.convert.raw.online_retail import load_online_retail
from recbole_unisrec.fileio import DataFormatError

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Invoices as blocks, in the real file's layout: M/D/YYYY H:MM dates, quoted descriptions with
# commas and doubled quotes, trailing spaces, an empty CustomerID, a cancellation.
INVOICES = [
    [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
        "536365,71053,WHITE METAL LANTERN,2,12/1/2010 8:26,3.39,17850,United Kingdom",  # repeat: collapsed
    ],
    ["536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom"],
    # same minute as 536367 below, later in the file: ordered by invoice number, not line
    ["536368,22632,HAND WARMER RED POLKA DOT,3,12/1/2010 8:34,1.85,13047,United Kingdom"],
    [
        '536367,82567,"AIRLINE LOUNGE,METAL SIGN",2,12/1/2010 8:34,2.1,13047,United Kingdom',
        '536367,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,12/1/2010 8:34,2.1,13047,United Kingdom',
    ],
    ["C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom"],
    ["536380,22632,HAND WARMER RED RETROSPOT,6,12/1/2010 9:41,1.85,14527.0,United Kingdom"],
    ["536381,22632,HAND WARMER RED RETROSPOT,6,12/1/2010 9:45,1.85,13047,United Kingdom"],
    ["536414,22139,,56,12/1/2010 11:52,0,,United Kingdom"],  # no customer: dropped
    ["536415,22139,RETROSPOT TEA SET CERAMIC 11 PC ,3,12/1/2010 11:53,4.95,14527,United Kingdom"],
    ["536416,85123A,WHITE HANGING HEART T-LIGHT HOLDER,0,12/1/2010 11:54,2.55,14527,United Kingdom"],  # quantity 0
    ["536417,71053,WHITE METAL LANTERN,-2,12/1/2010 11:55,3.39,14527,United Kingdom"],  # negative quantity
    ["536418,22633,HAND WARMER UNION JACK,1,12/1/2010 12:00,1.85,14527,United Kingdom"],
    # 12/10 sorts before 12/9 as text; as dates it is after
    ["536500,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/10/2010 9:00,2.55,17850,United Kingdom"],
    ["536450,21754,HOME BUILDING BLOCK WORD,3,12/9/2010 10:00,5.95,17850,United Kingdom"],
    ["536451,21754,BUILDING BLOCK WORD,3,12/9/2010 10:05,5.95,12345,France"],  # one-item user
]

INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token"
EXPECTED = {
    "OnlineRetail.train.inter": [INTER_HEADER, "0\t0\t1", "2\t5 6\t4", "2\t5\t6"],
    "OnlineRetail.valid.inter": [INTER_HEADER, "0\t0 1\t2", "1\t2\t3", "2\t5 6 4\t7"],
    "OnlineRetail.test.inter": [INTER_HEADER, "0\t0 1 2\t2", "1\t2 3\t4", "2\t5 6 4 7\t5"],
    "OnlineRetail.text": [
        "item_id:token\ttext:token_seq",
        "82567\tairline lounge,metal sign",
        '22041\trecord frame 7" single size',
        "22632\thand warmer red retrospot",
        "22139\tretrospot tea set ceramic 11 pc",
        "22633\thand warmer union jack",
        "85123A\twhite hanging heart t-light holder",
        "71053\twhite metal lantern",
        "21754\tbuilding block word",
    ],
    "OnlineRetail.item2index": ["82567\t0", "22041\t1", "22632\t2", "22139\t3", "22633\t4", "85123A\t5", "71053\t6", "21754\t7"],
    "OnlineRetail.user2index": ["13047\t0", "14527\t1", "17850\t2"],
}


def write_csv(path: Path, blocks: list[list[str]], header: str = HEADER) -> Path:
    lines = [header] + [line for block in blocks for line in block]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def read_folder(folder: Path) -> dict[str, list[str]]:
    return {path.name: path.read_text(encoding="utf-8").splitlines() for path in sorted(folder.iterdir())}


def test_exact_output(tmp_path):
    data = load_online_retail(write_csv(tmp_path / "OnlineRetail.csv", INVOICES), user_k=1, item_k=1)
    assert data.name == "OnlineRetail"
    assert data.sequences == [
        ("12345", ["21754"]),
        ("13047", ["82567", "22041", "22632", "22632"]),
        ("14527", ["22632", "22139", "22633"]),
        ("17850", ["85123A", "71053", "22633", "21754", "85123A"]),
    ]
    stats = write_dataset(data, tmp_path / "out")
    assert (stats.users, stats.items, stats.interactions, stats.dropped_users) == (3, 8, 12, 1)
    assert read_folder(tmp_path / "out" / "OnlineRetail") == EXPECTED


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invoice_order_in_file_does_not_matter(tmp_path, seed):
    blocks = INVOICES[:]
    random.Random(seed).shuffle(blocks)
    data = load_online_retail(write_csv(tmp_path / "OnlineRetail.csv", blocks), user_k=1, item_k=1)
    write_dataset(data, tmp_path / "out")
    assert read_folder(tmp_path / "out" / "OnlineRetail") == EXPECTED


def test_description_ties_go_to_smallest(tmp_path):
    blocks = [
        ["1,A1,ZEBRA MUG,1,12/1/2010 8:00,1,100,UK"],
        ["2,A1,APPLE MUG,1,12/1/2010 8:01,1,100,UK"],
        ["3,A1,,1,12/1/2010 8:02,1,100,UK"],
        ["4,A2,  ,1,12/1/2010 8:03,1,100,UK"],  # an item with no description at all is dropped
    ]
    data = load_online_retail(write_csv(tmp_path / "r.csv", blocks), user_k=1, item_k=1)
    assert data.texts == {"A1": "apple mug"}
    assert data.sequences == [("100", ["A1", "A1", "A1"])]


def test_k_core(tmp_path):
    blocks = [[f"{100 + u},I{i},ITEM {i},1,12/{u + 1}/2010 8:0{i},1,{u},UK" for i in range(3)] for u in range(3)]
    blocks.append(["999,I9,LONELY ITEM,1,12/5/2010 9:00,1,0,UK"])  # I9 bought once
    blocks.append(["998,I0,ITEM 0,1,12/5/2010 9:00,1,7,UK", "998,I1,ITEM 1,1,12/5/2010 9:00,1,7,UK"])  # user 7: two items
    data = load_online_retail(write_csv(tmp_path / "r.csv", blocks), user_k=3, item_k=2)
    assert data.sequences == [("0", ["I0", "I1", "I2"]), ("1", ["I0", "I1", "I2"]), ("2", ["I0", "I1", "I2"])]
    assert sorted(data.texts) == ["I0", "I1", "I2"]


def test_k_core_after_collapsing(tmp_path):
    # user 5 buys X twice on consecutive lines of one invoice: that is one interaction, not two
    blocks = [["1,X,THING,1,12/1/2010 8:00,1,5,UK", "1,X,THING,2,12/1/2010 8:00,1,5,UK"]]
    with pytest.raises(DataFormatError, match="no user with 3"):
        write_dataset(load_online_retail(write_csv(tmp_path / "r.csv", blocks), user_k=2, item_k=1), tmp_path / "out")
    assert load_online_retail(tmp_path / "r.csv", user_k=2, item_k=1).sequences == []


def test_invoice_as_user(tmp_path):
    data = load_online_retail(write_csv(tmp_path / "r.csv", INVOICES), user_k=1, item_k=1, user_column="InvoiceNo")
    users = dict(data.sequences)
    assert users["536365"] == ["85123A", "71053"]
    assert users["536414"] == ["22139"]  # no customer needed when invoices are the users
    assert "C536379" not in users and "536416" not in users


def test_iso_dates_and_retail_ii_header(tmp_path):
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
    blocks = [
        ["2,B,SECOND,1,2010-12-01 09:00:00,1,7,UK"],
        ["1,A,FIRST,1,2010-12-01 08:00:00,1,7,UK"],
        ["3,C,THIRD,1,2010-12-01 10:00,1,7,UK"],
    ]
    data = load_online_retail(write_csv(tmp_path / "r.csv", blocks, header), user_k=1, item_k=1)
    assert data.sequences == [("7", ["A", "B", "C"])]


def test_latin1_file(tmp_path):
    path = tmp_path / "data.csv"
    lines = [HEADER, "1,A,POUND \xa3 SIGN,1,12/1/2010 8:00,1,7,UK", "2,B,CAF\xc9 MUG,1,12/1/2010 9:00,1,7,UK"]
    path.write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(DataFormatError, match=rf"{path}:2: not UTF-8"):
        load_online_retail(path, user_k=1, item_k=1)
    data = load_online_retail(path, user_k=1, item_k=1, encoding="latin-1")
    assert data.texts == {"A": "pound \xa3 sign", "B": "caf\xe9 mug"}


BAD_ROWS = [
    ("536999,85123A,HOLDER, WHITE,6,12/1/2010 8:26,2.55,17850,United Kingdom", "expected 8 columns"),
    ("536999,85123A,HOLDER,6,12/1/2010 8:26,2.55,17850", "expected 8 columns"),
    ("536999,85123A,HOLDER,6,2010/13/45 8:26,2.55,17850,United Kingdom", "InvoiceDate '2010/13/45 8:26'"),
    ("536999,85123A,HOLDER,6,12/1/2010,2.55,17850,United Kingdom", "InvoiceDate '12/1/2010'"),
    ("536999,85123A,HOLDER,six,12/1/2010 8:26,2.55,17850,United Kingdom", "Quantity 'six'"),
    ("536999,85123A,HOLDER,,12/1/2010 8:26,2.55,17850,United Kingdom", "Quantity ''"),
    ("536999,,HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom", "empty InvoiceNo or StockCode"),
]


@pytest.mark.parametrize("bad,words", BAD_ROWS)
def test_bad_row(tmp_path, bad, words):
    path = write_csv(tmp_path / "OnlineRetail.csv", [INVOICES[0], [bad], INVOICES[1]])
    with pytest.raises(DataFormatError) as caught:
        write_dataset(load_online_retail(path, user_k=1, item_k=1), tmp_path / "out")
    assert f"{path}:5:" in str(caught.value)
    assert words in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_bad_header(tmp_path):
    path = write_csv(tmp_path / "r.csv", INVOICES, header="a,b,c,d,e,f,g,h")
    with pytest.raises(DataFormatError, match=rf"{path}:1: expected the header InvoiceNo,"):
        load_online_retail(path)
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(INVOICES[0][0] + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{headerless}:1: expected the header"):
        load_online_retail(headerless)


def test_empty_or_missing_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no header"):
        load_online_retail(empty)
    with pytest.raises(DataFormatError, match="file not found"):
        load_online_retail(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="user_column"):
        load_online_retail(empty, user_column="Country")


REAL_SAMPLE = Path(__file__).resolve().parents[4] / "shared" / "data" / "online-retail-sample" / "OnlineRetail.csv"


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="the shared Online Retail sample is not here")
def test_real_sample(tmp_path):
    data = load_online_retail(REAL_SAMPLE, user_k=1, item_k=1)
    stats = write_dataset(data, tmp_path / "out")
    assert (len(data.sequences), len(data.texts)) == (48, 616)
    assert (stats.users, stats.items, stats.interactions) == (38, 611, 1042)


def test_the_convert_command_writes_the_same_folder(tmp_path, capsys):
    """``python -m recbole_unisrec convert online-retail`` end to end: the same files as the loader, and its counts."""
    import json

    from recbole_unisrec.__main__ import main

    csv_file = write_csv(tmp_path / "OnlineRetail.csv", INVOICES)
    assert main(["convert", "online-retail", "--csv", str(csv_file), "--name", "OnlineRetail", "-k", "1",
                 "--out", str(tmp_path / "out")]) == 0
    assert read_folder(tmp_path / "out" / "OnlineRetail") == EXPECTED
    assert json.loads(capsys.readouterr().out)["OnlineRetail"] == {"users": 3, "items": 8, "interactions": 12, "dropped_users": 1}
