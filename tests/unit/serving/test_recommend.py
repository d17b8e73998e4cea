"""Recommending from a trained checkpoint: new items, removal, batching, history exclusion."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from recbole_unisrec.fileio import DataFormatError
from recbole_unisrec.serving import PAD_TOKEN, Recommender, item_tokens_from_files
from recbole_unisrec.text import encoder

from reference_metrics import model_top_items
from serving_fixtures import NAME, POPULAR, POPULAR_TEXT

NEW = "NEW-EYEPIECE"


@pytest.mark.parametrize("which", ["inductive_ckpt", "annotated_transductive_ckpt"])
def test_new_item_with_a_popular_targets_text_ranks_in_the_top_10(request, which, tiny_catalog, led_to_popular) -> None:
    rec = Recommender.from_checkpoint(request.getfixturevalue(which), catalog=tiny_catalog)
    rec.add_items([(NEW, POPULAR_TEXT)])  # after training, no retraining
    results = rec.recommend_batch(led_to_popular, k=10)
    assert len(results) == len(led_to_popular) >= 50
    for history, result in zip(led_to_popular, results):
        assert NEW in result.ids, (history, result.ids)
        assert not set(history) & set(result.ids)
    new = next(r for r in results[0] if r.item_id == NEW)
    assert new.text == POPULAR_TEXT and new.text_only


def test_transductive_new_items_fall_back_to_text_only_and_say_so(annotated_transductive_ckpt, tiny_catalog) -> None:
    rec = Recommender.from_checkpoint(annotated_transductive_ckpt, catalog=tiny_catalog)
    assert rec.mode == "transductive"
    assert all(rec.has_id_vector(item_id) for item_id, _ in tiny_catalog)
    rec.add_items([(NEW, POPULAR_TEXT)])
    assert not rec.has_id_vector(NEW)
    # the new item's vector is adaptor(text) alone; the trained one's is adaptor(text) + its ID vector
    new, popular = rec.item_vectors([NEW, POPULAR])
    id_vector = rec.model.item_embedding.weight[rec._learned[POPULAR]]
    torch.testing.assert_close(popular - id_vector, new, atol=1e-4, rtol=1e-4)
    result = rec.recommend(["A-1", NEW], k=len(rec), exclude_history=False)
    flags = {r.item_id: r.text_only for r in result}
    assert flags[NEW] is True and flags[POPULAR] is False
    assert result.history_text_only == (NEW,)
    text_only = Recommender.from_checkpoint(annotated_transductive_ckpt, catalog=tiny_catalog, use_id_vectors=False)
    assert text_only.mode == "text only" and not text_only.has_id_vector(POPULAR)


def test_checkpoint_without_item_ids_rebuilds_recboles_order(transductive_ckpt, annotated_transductive_ckpt,
                                                            tiny_dataset, tiny_root, tiny_catalog) -> None:
    assert item_tokens_from_files(tiny_root / NAME, NAME) == list(tiny_dataset.field2id_token["item_id"])
    ckpt = torch.load(annotated_transductive_ckpt, weights_only=True)
    assert ckpt["item_ids"][0] == PAD_TOKEN and len(ckpt["item_ids"]) == ckpt["state_dict"]["item_embedding.weight"].shape[0]
    assert ckpt["text_encoder"]["identity"] == encoder.model_identity("default")
    plain = Recommender.from_checkpoint(transductive_ckpt, catalog=tiny_catalog)
    annotated = Recommender.from_checkpoint(annotated_transductive_ckpt, catalog=tiny_catalog)
    assert plain._learned == annotated._learned
    torch.testing.assert_close(plain.item_vectors(plain.item_ids), annotated.item_vectors(annotated.item_ids))


def test_item_order_reads_what_the_loader_reads_and_names_a_bad_line(tiny_root, tmp_path) -> None:
    """CRLF line ends and ``.gz`` files rebuild the same order; bytes that are not UTF-8 name file and line."""
    expected = item_tokens_from_files(tiny_root / NAME, NAME)
    folder = tmp_path / NAME
    folder.mkdir()
    for split in ("train", "valid", "test"):
        text = (tiny_root / NAME / f"{NAME}.{split}.inter").read_text(encoding="utf-8")
        crlf = text.replace("\n", "\r\n").encode("utf-8")
        if split == "valid":
            (folder / f"{NAME}.{split}.inter.gz").write_bytes(gzip.compress(crlf))
        else:
            (folder / f"{NAME}.{split}.inter").write_bytes(crlf)
    assert item_tokens_from_files(folder, NAME) == expected
    (folder / f"{NAME}.test.inter").write_bytes(b"user_id:token\titem_id_list:token_seq\titem_id:token\nu1\tA-1\t\xff\n")
    with pytest.raises(DataFormatError, match=rf"{NAME}\.test\.inter:2: not UTF-8 text"):
        item_tokens_from_files(folder, NAME)
    (folder / f"{NAME}.test.inter").write_bytes(b"")
    with pytest.raises(DataFormatError, match=rf"{NAME}\.test\.inter:1: header has no item_id and item_id_list"):
        item_tokens_from_files(folder, NAME)


def test_removed_items_are_never_recommended(inductive_ckpt, tiny_root, tiny_catalog, led_to_popular) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    rec.add_items([(NEW, POPULAR_TEXT)])
    gone = [POPULAR, NEW, "A-5", "C-3"]
    assert rec.remove_items(gone) == 4
    assert len(rec) == len(tiny_catalog) - 3 and POPULAR not in rec
    histories = [[i for i in h if i not in gone] or ["A-0"] for h in led_to_popular]
    for result in rec.recommend_batch(histories, k=len(rec), exclude_history=False):
        assert len(result) == len(rec) and not set(gone) & set(result.ids)
    with pytest.raises(ValueError, match="not in the catalog"):
        rec.recommend(["A-0", POPULAR])
    rec.add_items([(POPULAR, POPULAR_TEXT)])  # and it can come back
    assert POPULAR in rec.recommend(["A-0", "A-1"], k=len(rec)).ids


def test_batched_equals_single(inductive_ckpt, tiny_root, tiny_catalog, led_to_popular) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    ids = [item_id for item_id, _ in tiny_catalog]
    rng = np.random.default_rng(0)
    histories = led_to_popular[:10] + [list(rng.choice(ids, size=n)) for n in (1, 2, 7, 25, 60)]  # 25, 60 > max length 20
    for exclude in (True, False):
        batched = rec.recommend_batch(histories, k=15, exclude_history=exclude, batch_size=4)
        for history, together in zip(histories, batched):
            alone = rec.recommend(history, k=15, exclude_history=exclude)
            assert alone.ids == together.ids
            np.testing.assert_allclose(alone.scores, together.scores, rtol=1e-5, atol=1e-5)


def test_exclude_history_option(inductive_ckpt, tiny_root, tiny_catalog) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    history = ["A-0", "A-1", "A-2"]
    everything = rec.recommend(history, k=len(rec), exclude_history=False)
    assert len(everything) == len(rec) and set(history) <= set(everything.ids)
    excluded = rec.recommend(history, k=len(rec))
    assert len(excluded) == len(rec) - 3 and not set(history) & set(excluded.ids)
    assert excluded.ids == [i for i in everything.ids if i not in history]
    assert everything.scores == sorted(everything.scores, reverse=True)


def test_item_vectors_are_computed_once_per_catalog_change(inductive_ckpt, tiny_root, tiny_catalog, monkeypatch) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    encoded: list[list[str]] = []
    real = encoder.encode_texts
    monkeypatch.setattr(encoder, "encode_texts", lambda texts, spec, **kw: encoded.append(list(texts)) or real(texts, spec, **kw))
    adapted: list[int] = []
    real_adapt = rec.model.moe_adaptor.forward
    monkeypatch.setattr(rec.model.moe_adaptor, "forward", lambda x: adapted.append(len(x)) or real_adapt(x))
    for _ in range(3):
        rec.recommend(["A-0", "A-1"], k=5)
    rec.recommend_batch([["A-0"], ["C-1", "C-2"]], k=5)
    assert encoded == [] and adapted == []
    rec.add_items([("X-1", "Digital caliper 150 mm stainless steel."), ("X-2", "Digital caliper 150 mm stainless steel.")])
    assert encoded == [["Digital caliper 150 mm stainless steel."]] and adapted == [1]  # same text: once
    rec.remove_items(["X-1"])
    rec.recommend(["X-2"], k=5)
    assert len(encoded) == 1 and adapted == [1]
    rec.add_items([("X-3", "Digital caliper 150 mm stainless steel."), ("X-4", rec.text_of("A-0"))])
    assert len(encoded) == 1 and adapted == [1]  # texts already in the catalog reuse their vectors
    torch.testing.assert_close(rec.item_vectors(["X-4"]), rec.item_vectors(["A-0"]), rtol=0, atol=0)


def test_catalog_from_a_data_set_and_a_tsv(inductive_ckpt, tiny_root, tiny_catalog, tmp_path) -> None:
    by_name = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    tsv = tmp_path / "items.tsv"
    tsv.write_text("item_id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in tiny_catalog), encoding="utf-8")
    by_file = Recommender.from_checkpoint(inductive_ckpt, catalog=str(tsv))
    text_file = Recommender.from_checkpoint(inductive_ckpt, catalog=tiny_root / NAME / f"{NAME}.text")  # a .text file too
    assert by_name.item_ids == by_file.item_ids == text_file.item_ids == [i for i, _ in tiny_catalog]
    history = ["A-0", "A-1"]
    assert by_name.recommend(history).ids == by_file.recommend(history).ids == text_file.recommend(history).ids


def test_shipped_scientific_as_the_catalog(inductive_ckpt) -> None:
    """Any catalog encoded with the checkpoint's encoder serves, here the shipped data set (cached vectors)."""
    rec = Recommender.from_checkpoint(inductive_ckpt, catalog="Scientific")
    assert len(rec) == 4385
    history = ["B00TNNWMXI", "B00IBZE2EQ"]
    result = rec.recommend(history, k=10)
    assert len(result) == 10 and "B00TNNWMXI" not in result.ids
    assert all(r.text == rec.text_of(r.item_id) for r in result)
    # the same ten items as the model scoring Scientific zero-shot through RecBole's data set (history excluded)
    from recbole_unisrec.data.layout import SHIPPED_DATA

    assert result.ids == model_top_items(inductive_ckpt, "Scientific", SHIPPED_DATA, history, 10)


def test_threads_are_restored(inductive_ckpt, tiny_root) -> None:
    before = torch.get_num_threads()
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root, threads=1)
    one = rec.recommend(["A-0", "A-1"], k=5)
    assert torch.get_num_threads() == before
    rec.threads = None
    assert rec.recommend(["A-0", "A-1"], k=5).ids == one.ids
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        Recommender.from_checkpoint(inductive_ckpt, threads=0)


def test_add_serving_info_missing_ok(tmp_path, tiny_dataset) -> None:
    from recbole_unisrec.checkpoint import CheckpointError
    from recbole_unisrec.serving import add_serving_info

    add_serving_info(tmp_path / "none.pth", tiny_dataset, missing_ok=True)
    assert not (tmp_path / "none.pth").exists()
    with pytest.raises(CheckpointError, match="not found"):
        add_serving_info(tmp_path / "none.pth", tiny_dataset)


def test_equal_scores_rank_by_catalog_position_in_single_and_batch(inductive_ckpt, tiny_root) -> None:
    rec = Recommender.from_checkpoint(inductive_ckpt, dataset=NAME, data_root=tiny_root)
    same = "Plossl telescope eyepiece 32mm wide field. Astronomy eyepieces."
    dups = [f"DUP-{i}" for i in range(6)]
    rec.add_items([(item_id, same) for item_id in reversed(dups)])  # catalog order DUP-5 .. DUP-0
    history = ["A-0", "A-1", "A-2"]
    full = rec.recommend(history, k=len(rec))
    first = full.ids.index("DUP-5")
    assert full.ids[first:first + 6] == list(reversed(dups)), [(r.item_id, r.score) for r in full][first - 2:first + 8]
    assert len(set(full.scores[first:first + 6])) == 1
    for k in range(first + 1, first + 6):  # k cuts through the tied group
        alone = rec.recommend(history, k=k)
        together = rec.recommend_batch([["C-0"], history, ["P-1", "P-2"]], k=k)[1]
        assert alone.ids == together.ids == full.ids[:k]


def test_pretrained_checkpoint_serves_text_only(inductive_ckpt, tiny_root, tmp_path) -> None:
    checkpoint = torch.load(inductive_ckpt, weights_only=True)
    checkpoint["config"]["train_stage"] = "pretrain"
    torch.save(checkpoint, tmp_path / "pretrained.pth")
    rec = Recommender.from_checkpoint(tmp_path / "pretrained.pth", dataset=NAME, data_root=tiny_root)
    assert rec.mode == "text only"
    assert rec.recommend(["A-0"], k=3).ids == Recommender.from_checkpoint(
        inductive_ckpt, dataset=NAME, data_root=tiny_root).recommend(["A-0"], k=3).ids
