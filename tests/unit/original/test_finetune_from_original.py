"""Fine-tuning from an original checkpoint, on an original data folder with its own text vectors."""
from __future__ import annotations

import pytest
import torch
from original_fixtures import PRETRAINED, SCIENTIFIC
from reference_metrics import model_top_items

from recbole_unisrec.__main__ import main
from recbole_unisrec.checkpoint import freeze_for_finetuning
from recbole_unisrec.config import PROPS
from recbole_unisrec.original.checkpoint import import_original_checkpoint
from recbole_unisrec.quick_start import run
from recbole_unisrec.serving import EncoderMismatchError, Recommender, build_model


def test_finetuning_an_original_checkpoint_keeps_its_frozen_weights(official, tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    assert main(["convert", "unisrec-files", "--src", str(official / SCIENTIFIC), "--name", "Scientific", "--out", str(data)]) == 0
    monkeypatch.chdir(tmp_path)  # RecBole writes log/ and log_tensorboard/ into the working directory
    result = run("UniSRec", "Scientific", config_file_list=[str(PROPS / "finetune.yaml")], config_dict={
        "data_path": str(data), "checkpoint_dir": str(tmp_path / "saved"), "text_encoder": "imported:feat1CLS",
        "epochs": 1, "train_batch_size": 512, "show_progress": False, "use_gpu": False, "state": "WARNING",
    }, pretrained=str(official / PRETRAINED), freeze=True)

    imported = import_original_checkpoint(official / PRETRAINED)
    model = build_model(imported["state_dict"], imported["config"])
    freeze_for_finetuning(model)
    frozen = [name for name, parameter in model.named_parameters() if not parameter.requires_grad]
    imported, trained = imported["state_dict"], torch.load(result["checkpoint"], weights_only=True)["state_dict"]
    assert frozen and all(torch.equal(trained[name], imported[name]) for name in frozen)
    assert not torch.equal(trained["moe_adaptor.w_gate"], imported["moe_adaptor.w_gate"])

    recommender = Recommender.from_checkpoint(result["checkpoint"], dataset="Scientific", data_root=data)
    history = ["B00TNNWMXI", "B00IBZE2EQ"]
    served = recommender.recommend(history, k=5)
    assert len(served) == 5
    # the same five items as the fine-tuned model scoring all items through RecBole's data set (history excluded)
    assert served.ids == model_top_items(result["checkpoint"], "Scientific", data, history, 5)
    with pytest.raises(EncoderMismatchError, match="no language model to encode other texts"):
        recommender.add_items([("NEW-1", "a digital caliper")])
