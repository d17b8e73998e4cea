"""``python -m recbole_unisrec recommend``: one history printed, many written to a file atomically."""
from __future__ import annotations

import pytest

from recbole_unisrec.__main__ import main

from serving_fixtures import NAME, POPULAR, POPULAR_TEXT


def test_one_history_prints_ranked_ids_scores_and_texts(inductive_ckpt, tiny_root, tmp_path, capsys) -> None:
    new = tmp_path / "new.tsv"
    new.write_text(f"item_id\ttext\nNEW-1\t{POPULAR_TEXT}\n", encoding="utf-8")
    code = main(["recommend", "--checkpoint", inductive_ckpt, "--dataset", NAME, "--data-root", str(tiny_root),
                 "--add-items", str(new), "--history", "A-0 A-1 A-2", "-k", "5"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0].split() == ["rank", "item_id", "score", "text"] and len(out) == 6
    rows = [line.split(None, 3) for line in out[1:]]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5"]
    assert {"NEW-1", POPULAR} <= {row[1] for row in rows}
    assert next(row[3] for row in rows if row[1] == "NEW-1") == POPULAR_TEXT
    scores = [float(row[2]) for row in rows]
    assert scores == sorted(scores, reverse=True)


def test_catalog_file_and_json(inductive_ckpt, tiny_catalog, tmp_path, capsys) -> None:
    import json

    catalog = tmp_path / "items.tsv"
    catalog.write_text("".join(f"{i}\t{t}\n" for i, t in tiny_catalog), encoding="utf-8")
    assert main(["recommend", "--checkpoint", inductive_ckpt, "--catalog", str(catalog), "--history", "C-0 C-1",
                 "-k", "3", "--json", "--include-history"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in result["recommendations"]] == [1, 2, 3]
    assert set(result["recommendations"][0]) == {"rank", "item_id", "score", "text", "text_only"}
    # the same top 3 as the Python API (history included), with their scores and catalog texts
    from recbole_unisrec.serving import Recommender

    expected = Recommender.from_checkpoint(inductive_ckpt, catalog=str(catalog)).recommend(["C-0", "C-1"], k=3,
                                                                                           exclude_history=False)
    assert [r["item_id"] for r in result["recommendations"]] == expected.ids
    assert [r["score"] for r in result["recommendations"]] == pytest.approx(expected.scores, rel=1e-5, abs=1e-6)
    texts = dict(tiny_catalog)
    assert all(r["text"] == texts[r["item_id"]] and r["text_only"] is True for r in result["recommendations"])


def test_many_histories_write_a_file(annotated_transductive_ckpt, tiny_root, tmp_path, capsys) -> None:
    histories = tmp_path / "histories.txt"
    histories.write_text("u1\tA-0 A-1\nu2\tC-3\nP-1 P-2 P-3\n", encoding="utf-8")
    out = tmp_path / "recs.tsv"
    code = main(["recommend", "--checkpoint", annotated_transductive_ckpt, "-d", NAME, "--data-root", str(tiny_root),
                 "--histories", str(histories), "-o", str(out), "-k", "4"])
    assert code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "user\trank\titem_id\tscore\ttext_only" and len(lines) == 1 + 3 * 4
    assert [line.split("\t")[0] for line in lines[1:]] == ["u1"] * 4 + ["u2"] * 4 + ["3"] * 4
    assert all(line.split("\t")[4] == "0" for line in lines[1:])  # every item has a learned ID vector
    assert '"histories": 3' in capsys.readouterr().out


@pytest.mark.parametrize("history_line, message", [
    ("u2\tC-3 GHOST", "user 'u2': item 'GHOST' is not in the catalog"),
    ("u2\t", "user 'u2' has an empty history"),
])
def test_bad_histories_file_is_one_line_and_writes_nothing(inductive_ckpt, tiny_root, tmp_path, capsys,
                                                          history_line, message) -> None:
    histories = tmp_path / "histories.txt"
    histories.write_text(f"u1\tA-0\n{history_line}\n", encoding="utf-8")
    out = tmp_path / "recs.tsv"
    code = main(["recommend", "--checkpoint", inductive_ckpt, "-d", NAME, "--data-root", str(tiny_root),
                 "--histories", str(histories), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [histories]


@pytest.mark.parametrize("args, message", [
    (["--history", "A-0 GHOST"], "history: item 'GHOST' is not in the catalog"),
    (["--history", ""], "history is empty"),
    (["--history", "A-0", "-k", "0"], "-k must be a positive integer"),
    (["--histories", "h.txt"], "--histories needs --output FILE"),
])
def test_bad_cli_input(inductive_ckpt, tiny_root, capsys, args, message) -> None:
    code = main(["recommend", "--checkpoint", inductive_ckpt, "-d", NAME, "--data-root", str(tiny_root), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err


def test_unknown_data_set(inductive_ckpt, tiny_root, capsys) -> None:
    code = main(["recommend", "--checkpoint", inductive_ckpt, "-d", "Nope", "--data-root", str(tiny_root), "--history", "A"])
    assert code == 2 and f"no data set 'Nope' under {tiny_root}; data sets there: {NAME}" in capsys.readouterr().err
