"""Every bad input is one clear line, and a failed change leaves the catalog as it was."""
from __future__ import annotations

import pytest
import torch

from recbole_unisrec.checkpoint import CheckpointError
from recbole_unisrec.fileio import DataFormatError
from recbole_unisrec.serving import Recommender, ServingError, read_catalog, read_histories

from serving_fixtures import NAME, POPULAR, POPULAR_TEXT


@pytest.fixture
def rec(inductive_ckpt, tiny_root) -> Recommender:
    return Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)  # cached text vectors


def snapshot(rec: Recommender):
    n = len(rec)
    return (list(rec._ids), list(rec._texts), dict(rec._row), rec._unit_t[:, :n].clone(), rec._norm[:n].clone(),
            rec._text_only[:n].copy())


def assert_unchanged(rec: Recommender, before) -> None:
    after = snapshot(rec)
    assert after[:3] == before[:3]
    torch.testing.assert_close(after[3], before[3], rtol=0, atol=0)
    torch.testing.assert_close(after[4], before[4], rtol=0, atol=0)
    assert (after[5] == before[5]).all()


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("history, message", [
    (["A-0", "NO-SUCH-ITEM"], "item 'NO-SUCH-ITEM' is not in the catalog"),
    ([], "history is empty"),
    ("", "history is empty"),
    ("   ", "history is empty"),
])
def test_bad_history(rec, history, message) -> None:
    before = snapshot(rec)
    with pytest.raises(ServingError) as error:
        rec.recommend(history)
    assert message in one_line(error)
    assert_unchanged(rec, before)


def test_bad_history_in_a_batch_names_it_and_scores_nothing(rec) -> None:
    with pytest.raises(ServingError) as error:
        rec.recommend_batch([["A-0"], ["A-1"], ["A-2", "GHOST"]])
    assert one_line(error) == "history 2: item 'GHOST' is not in the catalog"
    with pytest.raises(ServingError, match="history 1 is empty"):
        rec.recommend_batch([["A-0"], []])


@pytest.mark.parametrize("k", [0, -3, 1.5, "10", True])
def test_bad_k(rec, k) -> None:
    with pytest.raises(ServingError, match="k must be a positive integer"):
        rec.recommend(["A-0"], k=k)


@pytest.mark.parametrize("rows, message", [
    ([("NEW-1", "fine text"), ("", "some text")], "item row 1: empty item id"),
    ([("NEW-1", "fine text"), ("NEW-2", "")], "item row 1: item 'NEW-2' has an empty text"),
    ([("NEW-1", "fine text"), ("NEW-2", "  \t ")], "item row 1: item 'NEW-2' has an empty text"),
    ([("NEW-1", "fine text"), ("NEW-1", "other text")], "item row 1: duplicate item id 'NEW-1' (also row 0)"),
    ([("NEW-1", "fine text"), (POPULAR, "a new text")], f"item {POPULAR!r} is already in the catalog"),
    ([("NEW-1", "fine text"), ("NEW 2", "text")], "item row 1: item id 'NEW 2' contains whitespace"),
    ([("NEW-1", "fine text"), ("NEW-2",)], "item row 1: expected an (item id, text) pair"),
    ([("NEW-1", "fine text"), None], "item row 1: expected an (item id, text) pair"),
    ([("NEW-1", "fine text"), (None, None)], "item row 1: empty row"),
    ([], "no items to add"),
    ("NEW-1\tsome text", "not a string"),
])
def test_bad_catalog_rows_change_nothing(rec, rows, message) -> None:
    before = snapshot(rec)
    with pytest.raises(ServingError) as error:
        rec.add_items(rows)
    assert message in one_line(error)
    assert_unchanged(rec, before)
    assert "NEW-1" not in rec


@pytest.mark.parametrize("ids, message", [
    (["A-0", "GHOST"], "cannot remove item 'GHOST': not in the catalog"),
    (["A-0", "A-0"], "item 'A-0' is listed twice for removal"),
    ([], "no items to remove"),
])
def test_bad_removal_changes_nothing(rec, ids, message) -> None:
    before = snapshot(rec)
    with pytest.raises(ServingError) as error:
        rec.remove_items(ids)
    assert message in one_line(error)
    assert_unchanged(rec, before)


def test_wrongly_shaped_vectors_change_nothing(rec) -> None:
    import numpy as np

    before = snapshot(rec)
    with pytest.raises(ServingError, match=r"vectors have shape \(1, 5\), expected \(1, 384\)"):
        rec.add_items([("NEW-1", "text")], vectors=np.zeros((1, 5), dtype=np.float32))
    assert_unchanged(rec, before)


def test_empty_catalog(inductive_ckpt) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt)
    with pytest.raises(ServingError, match="the catalog is empty"):
        rec.recommend(["A-0"])
    rec.add_items({"A-0": "Refractor telescope.", POPULAR: POPULAR_TEXT})
    assert rec.recommend(["A-0"]).ids == [POPULAR]
    rec.remove_items([POPULAR, "A-0"])
    with pytest.raises(ServingError, match="the catalog is empty"):
        rec.recommend(["A-0"])


@pytest.mark.parametrize("content, message", [
    ("A\tfine\n\nB\tfine\n", ":2: empty row"),
    ("A\tfine\nA\tagain\n", ":2: duplicate item id 'A' (first on line 1)"),
    ("item_id\ttext\nA\tfine\nB\t  \n", ":3: item 'B' has an empty text"),
    ("A\tfine\n\tno id\n", ":2: empty item id"),
    ("A\tfine\nB only\n", ":2: expected 'item_id<TAB>text'"),
    ("item_id\ttext\n", ": no items"),
    ("", ": no items"),
])
def test_bad_catalog_file(tmp_path, content, message) -> None:
    path = tmp_path / "items.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as error:
        read_catalog(path)
    assert message in one_line(error) and str(path) in str(error.value)


def test_bad_catalog_file_leaves_catalog_unchanged(rec, tmp_path) -> None:
    path = tmp_path / "items.tsv"
    path.write_text("NEW-1\tfine\nNEW-2\t\n", encoding="utf-8")
    before = snapshot(rec)
    with pytest.raises(DataFormatError):
        rec.load_catalog(str(path))
    assert_unchanged(rec, before)
    with pytest.raises(ServingError, match="no catalog file 'nope.tsv'"):
        rec.load_catalog("nope.tsv")
    assert_unchanged(rec, before)


def test_catalog_file_formats(tmp_path) -> None:
    path = tmp_path / "items.tsv"
    path.write_text("A\tfirst text\nB\ttext\twith a tab\n", encoding="utf-8")
    assert read_catalog(path) == [("A", "first text"), ("B", "text\twith a tab")]
    path.write_text("item_id:token\ttext:token_seq\nA\tfirst text\n", encoding="utf-8")
    assert read_catalog(path) == [("A", "first text")]


def test_histories_file(tmp_path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("A-0 A-1\nu7\tA-2 A-3\n\n", encoding="utf-8")
    assert read_histories(path) == [("1", ["A-0", "A-1"]), ("u7", ["A-2", "A-3"])]
    path.write_text("A-0\nu7\t \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r":2: user 'u7' has an empty history"):
        read_histories(path)


def test_not_a_checkpoint(tmp_path, inductive_ckpt) -> None:
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        Recommender.from_checkpoint(tmp_path / "missing.pth")
    ckpt = torch.load(inductive_ckpt, weights_only=True)
    ckpt["config"]["model"] = "SASRec"
    torch.save(ckpt, tmp_path / "sasrec.pth")
    with pytest.raises(CheckpointError, match="a SASRec checkpoint; only UniSRec"):
        Recommender.from_checkpoint(tmp_path / "sasrec.pth")


def test_catalog_and_dataset_together(inductive_ckpt, tiny_catalog) -> None:
    with pytest.raises(ServingError, match="either catalog or dataset"):
        Recommender.from_checkpoint(inductive_ckpt, catalog=tiny_catalog, dataset="Scientific")
