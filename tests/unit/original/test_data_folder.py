"""``convert unisrec-files``: an original processed folder copied as it is, its vectors imported."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from original_fixtures import ITEM_TOKENS, SCIENTIFIC

from recbole_unisrec.__main__ import main
from recbole_unisrec.config import Config
from recbole_unisrec.data.convert.common import dataset_files
from recbole_unisrec.data.layout import read_item_tokens
from recbole_unisrec.registry import create_dataset
from recbole_unisrec.text.cache import text_vectors
from recbole_unisrec.text.encoder import EncoderSpec, ModelLoadError

IMPORTED = EncoderSpec(model="imported:feat1CLS")


def convert(src, out, *extra) -> int:
    return main(["convert", "unisrec-files", "--src", str(src), "--name", "Scientific", "--out", str(out), *extra])


def test_files_are_copied_as_they_are_and_vectors_cached_by_item_index(official, tmp_path, capsys) -> None:
    src = official / SCIENTIFIC
    assert convert(src, tmp_path / "data") == 0
    summary = json.loads(capsys.readouterr().out)["Scientific"]
    assert (summary["users"], summary["items"], summary["rows"], summary["text_encoder"], summary["text_dim"]) == \
        (255, 1484, {"train": 1501, "valid": 255, "test": 255}, "imported:feat1CLS", 384)
    folder = tmp_path / "data" / "Scientific"
    for name in dataset_files("Scientific"):
        assert (folder / name).read_bytes() == (src / name).read_bytes(), name
    raw = np.fromfile(src / "Scientific.feat1CLS", dtype="<f4").reshape(1484, 384)
    table = text_vectors(tmp_path / "data", "Scientific", IMPORTED, show_progress=False)
    tokens = read_item_tokens(folder, "Scientific")
    assert np.array_equal(table, raw[[int(token) for token in tokens]])
    assert text_vectors(tmp_path / "data", "Scientific", EncoderSpec(model="imported:feat1CLS", pooling="cls")).filename \
        == table.filename  # pooling does not apply to imported vectors
    with pytest.raises(ModelLoadError, match="has no text vectors 'imported:feat2CLS'; import them with"):
        text_vectors(tmp_path / "data", "Scientific", EncoderSpec(model="imported:feat2CLS"))


def test_the_dataset_sees_the_original_item_order_and_vectors(official, tmp_path, monkeypatch) -> None:
    """RecBole's internal ids on the copied files are the original run's (so transductive ID
    embeddings line up), and each one's text vector is its .feat1CLS row."""
    convert(official / SCIENTIFIC, tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # RecBole may write log folders into the working directory
    config = Config(model="UniSRec", dataset="Scientific", config_dict={
        "data_path": str(tmp_path / "data"), "text_encoder": "imported:feat1CLS", "use_gpu": False, "show_progress": False})
    dataset = create_dataset(config)
    original_order = json.loads((official / ITEM_TOKENS).read_text())["item_id"]
    assert list(dataset.field2id_token["item_id"]) == original_order
    raw = np.fromfile(official / SCIENTIFIC / "Scientific.feat1CLS", dtype="<f4").reshape(1484, 384)
    weight = dataset.plm_embedding.weight.numpy()
    assert np.array_equal(weight[1:], raw[[int(token) for token in original_order[1:]]]) and not weight[0].any()


def test_bad_folders_are_one_line_errors_and_write_nothing(official, tmp_path, capsys) -> None:
    src = tmp_path / "src"
    shutil.copytree(official / SCIENTIFIC, src)
    (src / "Scientific.feat1CLS").write_bytes((src / "Scientific.feat1CLS").read_bytes()[:-4])
    assert convert(src, tmp_path / "out") == 2
    assert "Scientific.feat1CLS: 2,279,420 bytes do not hold 1484 items (Scientific.item2index) x a whole number " \
           "of float32 values" in capsys.readouterr().err
    (src / "Scientific.feat1CLS").unlink()
    assert convert(src, tmp_path / "out") == 2
    assert "no Scientific.feat1CLS" in capsys.readouterr().err
    shutil.copyfile(official / SCIENTIFIC / "Scientific.feat1CLS", src / "Scientific.feat1CLS")
    with open(src / "Scientific.valid.inter", "a", encoding="utf-8") as handle:
        handle.write("0\t1 2\t99999\n")
    assert convert(src, tmp_path / "out") == 2
    assert "Scientific.valid.inter:257: item '99999' is not in the item2index file" in capsys.readouterr().err
    assert main(["convert", "unisrec-files", "--src", str(src), "--name", "../Scientific", "--out", str(tmp_path / "out")]) == 2
    assert "data set name '../Scientific' must be letters, digits" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_existing_data_set_is_replaced_only_with_force(official, tmp_path, capsys) -> None:
    out = tmp_path / "data"
    (out / "Scientific").mkdir(parents=True)
    assert convert(official / SCIENTIFIC, out) == 2
    assert "exists already; convert into another --out folder, or pass --force" in capsys.readouterr().err
    assert convert(official / SCIENTIFIC, out, "--force") == 0
    assert (out / "Scientific" / "Scientific.train.inter").is_file()
