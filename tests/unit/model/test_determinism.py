"""The same seed gives the same metrics twice on CPU."""
from __future__ import annotations

from recbole_unisrec.quick_start import run

from model_fixtures import TINY_CONFIG


def test_same_seed_same_metrics(tiny_root, tmp_path) -> None:
    settings = {**TINY_CONFIG, "data_path": str(tiny_root), "checkpoint_dir": str(tmp_path), "epochs": 3,
                "hidden_dropout_prob": 0.3, "adaptor_dropout_prob": 0.2, "train_stage": "transductive_ft"}
    first = run("UniSRec", "Tiny", config_dict=settings)
    second = run("UniSRec", "Tiny", config_dict=settings)
    assert first["test_result"] == second["test_result"]
    assert first["best_valid_score"] == second["best_valid_score"]
    other_seed = run("UniSRec", "Tiny", config_dict={**settings, "seed": 8})
    assert other_seed["best_valid_result"] != first["best_valid_result"]
