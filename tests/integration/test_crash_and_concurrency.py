"""Damage done for real: a SIGKILLed encoder, two writers of one data set at once."""
from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap

import numpy as np

from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.text.cache import text_vectors, vectors_path
from recbole_unisrec.text.encoder import EncoderSpec, encode_texts


def _fixture(root, name="Shop", items=40):
    texts = {f"p{i}": f"product number {i} in colour {i % 7} size {i % 5}" for i in range(items)}
    users = [(f"u{u}", [f"p{(u * 3 + k) % items}" for k in range(5)]) for u in range(30)]
    write_dataset(SequenceData(name, users, texts), root)
    return root


def test_encoder_killed_while_writing_leaves_no_complete_looking_file(tmp_path) -> None:
    root = _fixture(tmp_path)
    script = textwrap.dedent(f"""
        import time, numpy as np
        import recbole_unisrec.text.cache as cache
        real_save = np.save
        def slow_save(handle, table):
            handle.write(b"\\x93NUMPY half of a table")
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)
        cache.np.save = slow_save
        cache.text_vectors({str(root)!r}, "Shop", show_progress=False)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    final = vectors_path(root, "Shop", EncoderSpec())
    assert not final.exists()
    assert list((root / "Shop").glob("*.npy")) == []
    table = text_vectors(root, "Shop", show_progress=False)  # a later run encodes from scratch
    assert table.shape == (40, 384) and np.isfinite(np.asarray(table)).all()
    # row i is the text of line i + 1 of Shop.item2index, encoded afresh (nothing of the half-written file)
    order = [line.split("\t")[0] for line in (root / "Shop" / "Shop.item2index").read_text().splitlines()]
    texts = dict(line.split("\t") for line in (root / "Shop" / "Shop.text").read_text().splitlines()[1:])
    np.testing.assert_allclose(np.asarray(table), encode_texts([texts[raw] for raw in order], EncoderSpec()), atol=1e-5)


def _write_many(root: str, times: int) -> None:
    for _ in range(times):
        _fixture(root)


def test_two_processes_writing_one_data_set_end_with_one_correct_copy(tmp_path) -> None:
    reference = _fixture(tmp_path / "reference")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(tmp_path / "shared"), 15)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    written = sorted(p.name for p in (tmp_path / "shared" / "Shop").iterdir())
    assert written == sorted(p.name for p in (reference / "Shop").iterdir())
    for name in written:
        assert (tmp_path / "shared" / "Shop" / name).read_bytes() == (reference / "Shop" / name).read_bytes()
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["Shop"]


def _encode(root: str, out: str) -> None:
    np.save(out, np.asarray(text_vectors(root, "Shop", show_progress=False)))


def test_two_processes_encoding_at_once_agree(tmp_path) -> None:
    root = _fixture(tmp_path)
    context = multiprocessing.get_context("spawn")
    outs = [str(tmp_path / f"out{i}.npy") for i in range(2)]
    workers = [context.Process(target=_encode, args=(str(root), out)) for out in outs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0
    first, second = (np.load(out) for out in outs)
    cached = np.asarray(text_vectors(root, "Shop", show_progress=False))
    np.testing.assert_allclose(first, second, atol=1e-5)
    np.testing.assert_allclose(cached, first, atol=1e-5)
    assert len(list((root / "Shop").glob("*.npy"))) == 1
