"""Configuration mistakes fail before any data is read."""
from __future__ import annotations

import pytest

from recbole_unisrec.config import Config, parse_overrides


def test_unknown_setting_fails_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="unknown setting 'train_stgae'; did you mean 'train_stage'"):
        Config("UniSRec", "Scientific", config_dict={"train_stgae": "inductive_ft"})


def test_plugin_setting_of_the_wrong_type_fails() -> None:
    with pytest.raises(ValueError, match="setting 'temperature' must be float like 0.07, got 'warm'"):
        Config("UniSRec", "Scientific", overrides=["--temperature=warm"])
    with pytest.raises(ValueError, match="setting 'packed_training' must be bool"):
        Config("UniSRec", "Scientific", config_dict={"packed_training": 3})


def test_overrides_use_recbole_syntax() -> None:
    config = Config("UniSRec", "Scientific", overrides=["--learning_rate=0.003", "--topk=[5,20]", "--train_stage=transductive_ft"])
    assert config["learning_rate"] == 0.003 and config["topk"] == [5, 20] and config["train_stage"] == "transductive_ft"
    assert config["hidden_size"] == 300 and config["n_exps"] == 8  # props/UniSRec.yaml
    assert config["data_path"].endswith("dataset/Scientific")
    with pytest.raises(ValueError, match="unrecognised argument '-x'"):
        parse_overrides(["-x"])
    with pytest.raises(ValueError, match="--lr given twice"):
        parse_overrides(["--lr=1", "--lr=2"])
