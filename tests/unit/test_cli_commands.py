"""Every ``python -m recbole_unisrec`` sub-command end to end on tiny data (``recommend`` has its own
tests in tests/unit/serving/test_cli.py): exit code, the JSON printed, the files written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from recbole_unisrec.__main__ import main
from recbole_unisrec.data.convert import SHARED_SOURCES
from recbole_unisrec.text import EncoderSpec, vectors_path

SHOP_LOG = "user_id,item_id,timestamp\nalice,p1,1\nalice,p2,2\nalice,p3,3\nalice,p3,3\nbob,p2,1\nbob,p3,2\nbob,p1,3\nbob,p4,4\n"
SHOP_ITEMS = 'item_id,title,category\np1,"Notebook, A5",Paper\np2,Pencil,Writing\np3,Eraser,\n'
SHOP_SUMMARY = {"users": 2, "items": 3, "interactions": 6, "dropped_users": 0,
                "dropped_rows": {"item_not_in_item_table": 1, "item_text_empty": 0, "duplicate": 1, "k_core": 0}}
MOVIES = {
    "ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                     "1\t10\t5\t300\n1\t20\t4\t100\n1\t30\t3\t200\n2\t20\t1\t50\n2\t10\t2\t60\n2\t30\t5\t70\n",
    "ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                    "10\tHeat\t1995\tCrime\n20\tFargo\t1996\tCrime Drama\n30\tBabe\t1995\tComedy\n",
}
SUFFIXES = ("train.inter", "valid.inter", "test.inter", "text", "item2index", "user2index")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def data_lines(folder: Path, name: str, suffix: str) -> list[str]:
    """The lines of ``<name>.<suffix>`` after the header (the index files have none)."""
    lines = (folder / f"{name}.{suffix}").read_text(encoding="utf-8").splitlines()
    return lines if suffix.endswith("index") else lines[1:]


@pytest.fixture
def shop_files(tmp_path: Path) -> tuple[Path, Path]:
    log, items = tmp_path / "raw" / "log.csv", tmp_path / "raw" / "items.csv"
    log.parent.mkdir()
    log.write_text(SHOP_LOG, encoding="utf-8")
    items.write_text(SHOP_ITEMS, encoding="utf-8")
    return log, items


@pytest.fixture
def data_root(tmp_path: Path, shop_files, capsys) -> Path:
    """``Shop`` converted with ``convert table`` into ``tmp_path/data``."""
    log, items = shop_files
    root = tmp_path / "data"
    code, _, _ = run(capsys, "convert", "table", "--interactions", str(log), "--items", str(items), "--name", "Shop",
                     "--time-col", "timestamp", "--text-cols", "title,category", "-k", "0", "--out", str(root))
    assert code == 0
    return root


def test_convert_table_prints_the_summary_and_writes_the_layout(shop_files, tmp_path, capsys):
    log, items = shop_files
    root = tmp_path / "data"
    code, out, _ = run(capsys, "convert", "table", "--interactions", str(log), "--items", str(items), "--name", "Shop",
                       "--time-col", "timestamp", "--text-cols", "title,category", "-k", "0", "--out", str(root))
    assert code == 0 and json.loads(out) == {"Shop": SHOP_SUMMARY}
    folder = root / "Shop"
    assert sorted(path.name for path in folder.iterdir()) == sorted(f"Shop.{suffix}" for suffix in SUFFIXES)
    # alice p1 p2 p3 -> 0 1 2; bob p2 p3 p1 -> 1 2 0
    assert data_lines(folder, "Shop", "test.inter") == ["0\t0 1\t2", "1\t1 2\t0"]
    assert data_lines(folder, "Shop", "valid.inter") == ["0\t0\t1", "1\t1\t2"]
    assert data_lines(folder, "Shop", "train.inter") == []
    assert data_lines(folder, "Shop", "text") == ["p1\tNotebook, A5. Paper.", "p2\tPencil. Writing.", "p3\tEraser."]
    assert data_lines(folder, "Shop", "user2index") == ["alice\t0", "bob\t1"]


def test_convert_table_default_k_leaves_nobody_and_says_so(shop_files, tmp_path, capsys):
    log, items = shop_files
    code, out, err = run(capsys, "convert", "table", "--interactions", str(log), "--items", str(items), "--name", "Shop",
                         "--out", str(tmp_path / "data"))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {log}: no user keeps 5 or more interactions after the filters") and err.count("\n") == 1
    assert not (tmp_path / "data").exists()


def test_convert_table_error_is_one_line_and_writes_nothing(shop_files, tmp_path, capsys):
    log, items = shop_files
    root = tmp_path / "data"
    code, out, err = run(capsys, "convert", "table", "--interactions", str(log), "--items", str(items), "--name", "Shop",
                         "--user-col", "customer", "--out", str(root))
    assert code == 2 and out == ""
    assert err == f"error: {log}:1: no column 'customer'; the header has user_id, item_id, timestamp\n"
    assert not root.exists()
    code, _, err = run(capsys, "convert", "table", "--interactions", str(log), "--name", "Shop", "--out", str(root))
    assert code == 2 and err == "error: convert table needs --interactions FILE --items FILE --name NAME\n"


def test_convert_shared(tmp_path, capsys):
    shared = tmp_path / "shared"
    folder = shared / SHARED_SOURCES["ML-100k"][0]
    folder.mkdir(parents=True)
    for file_name, content in MOVIES.items():
        (folder / file_name).write_text(content, encoding="utf-8")
    root = tmp_path / "data"
    code, out, _ = run(capsys, "convert", "shared", "--name", "ML-100k", "--shared-root", str(shared), "--out", str(root))
    assert code == 0
    assert json.loads(out) == {"ML-100k": {"users": 2, "items": 3, "interactions": 6, "dropped_users": 0}}
    # user 1: 20 30 10 by time; user 2: 20 10 30
    assert data_lines(root / "ML-100k", "ML-100k", "test.inter") == ["0\t0 1\t2", "1\t0 2\t1"]
    assert data_lines(root / "ML-100k", "ML-100k", "text") == ["20\tFargo. 1996. Crime Drama.", "30\tBabe. 1995. Comedy.",
                                                               "10\tHeat. 1995. Crime."]


def test_corpus_merges_two_domains(data_root, tmp_path, capsys):
    assert run(capsys, "convert", "table", "--interactions", str(tmp_path / "raw" / "log.csv"), "--items",
               str(tmp_path / "raw" / "items.csv"), "--name", "Home", "--text-cols", "title", "-k", "0",
               "--out", str(data_root))[0] == 0
    code, out, _ = run(capsys, "corpus", "--domains", "Shop,Home", "--data-root", str(data_root))
    # Home has no time column: alice's repeated p3 is no duplicate there, so 6 + 7 interactions
    assert code == 0 and json.loads(out) == {"SH": {"users": 4, "items": 6, "interactions": 13}}
    folder = data_root / "SH"
    assert (folder / "SH.domains").read_text(encoding="utf-8") == "0\tShop\t3\n1\tHome\t3\n"
    assert data_lines(folder, "SH", "item2index") == ["0-p1\t0-0", "0-p2\t0-1", "0-p3\t0-2", "1-p1\t1-0", "1-p2\t1-1", "1-p3\t1-2"]
    assert data_lines(folder, "SH", "train.inter") == ["1-0\t1-0\t1-1"]  # Home's alice: p1 p2 p3 p3
    assert len(data_lines(folder, "SH", "test.inter")) == 4


def test_encode_prints_json_on_first_run_and_on_a_cache_hit(data_root, capsys):
    expected = {"dataset": "Shop", "rows": 3, "dim": 384, "file": str(vectors_path(data_root, "Shop", EncoderSpec()))}
    for _ in range(2):
        code, out, _ = run(capsys, "encode", "-d", "Shop", "--data-root", str(data_root))
        assert code == 0 and json.loads(out) == expected
    assert Path(expected["file"]).is_file()


def test_encode_unknown_data_set_is_one_line(tmp_path, capsys):
    code, out, err = run(capsys, "encode", "-d", "Nowhere", "--data-root", str(tmp_path))
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def test_slim_writes_the_copy_and_a_bad_source_is_one_line(tmp_path, capsys):
    import torch

    source, output = tmp_path / "full.pth", tmp_path / "slim.pth"
    weights = {"w": torch.arange(6.0)}
    torch.save({"state_dict": weights, "config": {"model": "UniSRec"}, "optimizer": {"state": {}, "param_groups": []},
                "cur_step": 3}, source)
    assert main(["slim", str(source), str(output)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dropped"] == ["optimizer", "cur_step"] and summary["output"] == str(output)
    slim = torch.load(output, weights_only=True)
    assert sorted(slim) == ["config", "slimmed_from", "state_dict"] and torch.equal(slim["state_dict"]["w"], weights["w"])

    assert main(["slim", str(tmp_path / "missing.pth"), str(tmp_path / "out.pth")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.pth'}: checkpoint file not found\n"
    assert not (tmp_path / "out.pth").exists()
