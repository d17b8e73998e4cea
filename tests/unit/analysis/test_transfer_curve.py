"""Pre-training curves from a transfer CSV: the epoch-end table, the chart, bad files."""
from __future__ import annotations

import shlex

import pytest

from recbole_unisrec.__main__ import main
from recbole_unisrec.analysis.transfer_curve import read_transfer_log
from recbole_unisrec.fileio import DataFormatError

HEADER = "epoch,step,loss,seq_item,seq_seq,Sci_recall@10,Sci_ndcg@10,Off_recall@10,Off_ndcg@10,mean_ndcg@10,eval_seconds\n"
ROWS = ["0.5,3,7.5,7.4,6,0.02,0.01,0.03,0.015,0.0125,1.5\n",
        "1,6,7,6.9,5,0.04,0.02,0.05,0.025,0.0225,1.4\n",
        "2,12,6,5.9,4,0.06,0.03,0.07,0.035,0.0325,1.6\n"]


def test_table_lists_epoch_ends_and_the_chart_is_written(tmp_path, capsys) -> None:
    log = tmp_path / "run-a" / "UniSRec-X-transfer.csv"
    log.parent.mkdir()
    log.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    assert read_transfer_log(log).datasets == ["Sci", "Off"]
    argv = ["plot-transfer", str(log), "--out", str(tmp_path / "curve"), "--caption", "From a test."]
    assert main(argv) == 0
    table = (tmp_path / "curve.md").read_text(encoding="utf-8").splitlines()
    assert table[0] == "From a test."
    assert table[2] == f"`python -m recbole_unisrec {shlex.join(argv)}`"
    assert table[2].endswith("--caption 'From a test.'`")
    assert table[4] == f"**run-a** (`{log}`)"
    assert table[8:10] == ["| 1 | 6 | 7.0000 | 0.0200 / 0.0400 | 0.0250 / 0.0500 | 0.0225 |",
                          "| 2 | 12 | 6.0000 | 0.0300 / 0.0600 | 0.0350 / 0.0700 | 0.0325 |"]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot-transfer", str(log), "--out", str(tmp_path / "bare")]) == 0
    assert (tmp_path / "bare.md").read_text(encoding="utf-8").startswith("`python -m recbole_unisrec plot-transfer ")


def test_bad_files_are_one_line_errors(tmp_path, capsys) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("epoch,step\n1,2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"wrong.csv: not a transfer log: no column 'loss'"):
        read_transfer_log(wrong)
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + ROWS[0] + ROWS[1].replace("7,6.9", "seven,6.9"), encoding="utf-8")
    assert main(["plot-transfer", str(broken), "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {broken}:3: a value is not a number"
    assert not (tmp_path / "x.md").exists()
    appended_twice = tmp_path / "twice.csv"
    appended_twice.write_text(HEADER + ROWS[0] + ROWS[1] + ROWS[1] + ROWS[2], encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"twice.csv:4: step 6 does not follow step 6$"):
        read_transfer_log(appended_twice)
    out_of_order = tmp_path / "order.csv"
    out_of_order.write_text(HEADER + ROWS[0] + ROWS[2] + ROWS[1], encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"order.csv:4: step 6 does not follow step 12$"):
        read_transfer_log(out_of_order)
