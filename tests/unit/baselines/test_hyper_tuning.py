"""RecBole's HyperTuning runs this plugin's models through recbole_unisrec.quick_start.objective_function."""
from __future__ import annotations

import pytest
import yaml

from baseline_fixtures import tiny_config, tiny_root  # noqa: F401  (pytest fixtures)
from recbole_unisrec.quick_start import objective_function

pytest.importorskip("hyperopt")
from recbole.trainer import HyperTuning  # noqa: E402


@pytest.mark.parametrize("model", ["FDSAText", "UniSRec"])
def test_hyper_tuning_two_trials(tiny_config, tmp_path, model) -> None:
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({**tiny_config, "model": model, "dataset": "Tiny"}))
    params = tmp_path / "params.hyper"
    params.write_text("learning_rate choice [0.01,0.001]\n")
    tuner = HyperTuning(objective_function, algo="exhaustive", params_file=str(params),
                        fixed_config_file_list=[str(fixed)])
    tuner.run()
    assert len(tuner.params2result) == 2
    assert {result["model"] for result in tuner.params2result.values()} == {model}
    assert tuner.best_params["learning_rate"] in (0.01, 0.001)
    for result in tuner.params2result.values():
        assert set(result["test_result"]) == {"recall@10", "recall@50", "ndcg@10", "ndcg@50"}
