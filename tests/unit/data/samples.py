"""Small hand-made samples, one per shared source format, and a function that writes them."""
from __future__ import annotations

from pathlib import Path
from recbole_unisrec.data.convert import SHARED_SOURCES

INTER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"

SCIENTIFIC = {
    "Scientific.user2index": "UA\t0\nUB\t1\n",
    "Scientific.item2index": "I0\t0\nI1\t1\nI2\t2\nI3\t3\nI4\t4\n",
    "Scientific.train.inter": INTER + "0\t0\t1\n",
    "Scientific.valid.inter": INTER + "0\t0 1\t2\n1\t1\t4\n",
    "Scientific.test.inter": INTER + "0\t0 1 2\t3\n1\t1 4\t0\n",
    "Scientific.text": "item_id:token\ttext:token_seq\n"
                       "I0\tZero tool. Industrial & Scientific. Acme. \nI1\tOne  &amp; more. \nI2\tTwo.\nI3\tThree.\nI4\tFour.\n",
}

OFFICE = {
    "train.csv": "user_id\titem_id\ttime\n10\t2\t100\n9\t1\t50\n10\t1\t100\n10\t3\t90\n",
    "dev.csv": "user_id\titem_id\ttime\tneg_items\n10\t4\t200\t[1, 2]\n9\t2\t60\t[5]\n",
    "test.csv": "user_id\titem_id\ttime\tneg_items\n9\t3\t70\t[4]\n10\t5\t300\t[3]\n",
    "Office.item2index": "A1\t1\nA2\t2\nA3\t3\nA4\t4\nA5\t5\n",
    "Office.text": "id\ttext\nA1\tStapler Staplers Acme\nA2\tPen Pens Bic\nA3\tPaper Paper Hammermill\n"
                   "A4\tTape Tape 3M\nA5\tInk Ink HP\n",
    "Office.item.json": '{"0": {"title": "unrelated", "description": "", "brand": "", "categories": ""}}\n',
}

BEAUTY = {
    "sequential_data.txt": "1 0 1 2\n2 2 3 0 1\n3 1 2\n",
    "id2title.tsv": "item_id\ttitle\n0\tRed &amp; Polish\n1\tBlue  polish\n2\tGreen\n3\tLipstick\n",
    "id2category.jsonl": '{"item_id": 0, "category": [["Beauty", "Makeup", "Nails"], ["Beauty", "Nail Care"]]}\n'
                         '{"item_id": 1, "category": [["Beauty", "Makeup", "Nails"]]}\n'
                         '{"item_id": 2, "category": [[]]}\n',
    "id2asin.tsv": "item_id\tasin\n0\tB0\n1\tB1\n2\tB2\n3\tB3\n",
}

YELP = {
    "sequential_data.txt": "1 0 1 0\n",
    "id2title.tsv": "item_id\ttitle\n0\tMoon Congee\n1\tFairy Nails\n",
    "id2category.jsonl": '{"item_id": 0, "category": ["Restaurants", "Chinese"]}\n'
                         '{"item_id": 1, "category": ["Beauty & Spas"]}\n',
}

GAMES = {
    "Games.test.inter": INTER + "0\t5 6 7\t8\n1\t6 9\t5\n2\t10 11 12\t13\n",
    "Games.valid.inter": INTER + "0\t5 6\t7\n1\t6\t9\n2\t14 10 11\t12\n",
    "Games.item": "item_id:token\ttitle:token_seq\n" + "".join(f"{i}\tGame {i}\n" for i in range(5, 15)),
}

MICROLENS = {
    "sequential_train.txt": "1 10 11\n2\n3 12\n",
    "sequential_valid.txt": "1 12\n2 10 11\n3\n",
    "sequential_test.txt": "1\n2 13\n3 10 11\n",
    "seqid2title.tsv": "seq_item_id\tmicrolens_item_id\ttitle\n10\t900\t# Yummy food\n11\t901\t西班牙 公主\n"
                       "12\t902\tcats\n13\t903\tdogs\n",
}

LASTFM = {
    "train_data.user_sequences.txt": "0 1 2 3\n4 5\n",
    "Val_data.user_sequences.txt": "1 4 6\n",
    "Test_data.user_sequences.txt": "7 0 1\n",
    "id2name.txt": "0::Morcheeba\n1::Enigma\n2::Café Del Mar\n3::A::B\n4::Four\n6::Six\n7::Seven\n",
}

STEAM = {
    "train_data_1000.tsv": "history\tlen_seq\tnext\n"
                           "1 2 3 4 5 6 7 8 9 10\t10\t11\n"
                           "2 3 4 5 6 7 8 9 10 11\t10\t12\n"
                           "20 21\t2\t22\n"
                           "1 2 3 4 5 6 7 8 9 10\t10\t11\n",
    "Val_data.tsv": "history\tlen_seq\tnext\n\t0\t30\n30 31\t2\t32\n",
    "Test_data.tsv": "history\tlen_seq\tnext\n20 21 22\t3\t23\n40\t1\t41\n40 41\t2\t42\n40 41\t2\t43\n",
    "id2name.txt": "".join(f"{i}::Game {i}\n" for i in (*range(1, 13), 20, 21, 22, 23, 30, 32, 40, 41, 42, 43))
                   + "31::Depths of Fear :: Knossos\n",
}

ML100K = {
    "ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                     "10\t5\t3\t300\n9\t2\t4\t100\n10\t3\t5\t300\n10\t4\t1\t200\n9\t1\t2\t100\n9\t7\t3\t50\n",
    "ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                    "1\tToy Story\t1995\tAnimation Children's Comedy\n2\tGoldenEye\t1995\tAction\n"
                    "3\tFour Rooms\t1995\tThriller\n4\tGet Shorty\t1995\tComedy Drama\n5\tCopycat\t1995\tCrime\n"
                    "6\tNever Seen\t1996\tDrama\n7\tTwelve Monkeys\t1995\tSci-Fi\n",
    "ml-100k.user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n9\t24\tM\tx\t1\n",
}

ML1M = {
    "ml-1m.test.inter": INTER + "0\t2 0\t1\n1\t1 2 3\t0\n",
    "ml-1m.item2index": "3497\t0\n491\t1\n1\t2\n2\t3\n",
    "ml-1m.text": "item_id:token\ttext:token_seq\n3497\tMax Dugan Returns 1983 Comedy.\n"
                  "491\tMan Without a Face, The 1993 Drama.\n1\tToy Story 1995 Animation.\n2\tJumanji 1995 Adventure.\n",
}

SAMPLES: dict[str, dict[str, str]] = {
    "Scientific": SCIENTIFIC, "Office": OFFICE, "Beauty": BEAUTY, "Toys": BEAUTY, "Games": GAMES, "Yelp": YELP,
    "MicroLens": MICROLENS, "LastFM": LASTFM, "Steam": STEAM, "ML-100k": ML100K, "ML-1M": ML1M,
}


def write_sample(shared_root: Path, name: str, overrides: dict[str, str | bytes | None] | None = None) -> Path:
    """Write the sample of data set ``name`` (with ``overrides``; ``None`` deletes a file)."""
    folder = shared_root / SHARED_SOURCES[name][0]
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes | None] = {**SAMPLES[name], **(overrides or {})}
    for file_name, content in files.items():
        if content is None:
            continue
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (folder / file_name).write_bytes(data)
    return folder


