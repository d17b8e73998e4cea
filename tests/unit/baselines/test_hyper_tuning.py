"""run_hyper.py: RecBole's HyperTuning over recbole_unisrec.quick_start.objective_function, a
result table after every trial, and space files checked before any training."""
from __future__ import annotations

import json

import pytest

from recbole_unisrec import quick_start
from recbole_unisrec.config import PROPS
from recbole_unisrec.hyper import best_trial, read_space

pytest.importorskip("hyperopt")
import run_hyper  # noqa: E402


def tiny_args(config: dict) -> list[str]:
    return [f"--{key}={value}" for key, value in config.items() if key != "epochs"]


def read_outputs(out) -> tuple[dict, list[str]]:
    data = json.loads(out.with_name(out.name + ".json").read_text())
    rows = [line for line in out.with_name(out.name + ".md").read_text().splitlines() if line.startswith("| ")][1:]
    return data, rows


@pytest.mark.parametrize("model, space, algo", [
    ("UniSRec", "learning_rate choice [0.01,0.001]\n", ["--algo", "exhaustive"]),
    ("SASRec", "learning_rate loguniform -7,-4\n", ["--algo", "random", "--max-evals", "2"]),
])
def test_two_trials_end_to_end(tiny_config, tmp_path, model, space, algo) -> None:
    space_file = tmp_path / "space.hyper"
    space_file.write_text(space)
    out = tmp_path / "hyper"
    argv = ["-m", model, "-d", "Tiny", "--space", str(space_file), *algo, "--epochs", "1", "--out", str(out),
            *tiny_args(tiny_config)]
    paths = run_hyper.main(argv)
    assert [p.name for p in paths] == ["hyper.md", "hyper.json"]
    data, rows = read_outputs(out)
    trials = data["trials"]
    assert len(trials) == 2 and len(rows) == 2
    assert [t["trial"] for t in trials] == [1, 2]
    assert len({t["params"]["learning_rate"] for t in trials}) == 2
    best = max(trials, key=lambda t: t["best_valid_score"])
    assert data["best"]["trial"] == best["trial"]
    assert data["best"]["params"] == best["params"]
    assert [row.startswith(f"| **{best['trial']} (best)**") for row in rows].count(True) == 1
    assert data["model"] == model and data["command"].startswith("python run_hyper.py -m " + model)
    for t in trials:
        assert set(t["test_result"]) == {"recall@10", "recall@50", "ndcg@10", "ndcg@50"}
        assert t["valid_metric"] == "ndcg@10" and t["best_valid_result"]["ndcg@10"] == t["best_valid_score"]
        # the trial is a plain run with its learning rate: the same metrics, recorded against that trial
        plain = quick_start.objective_function({"model": model, "dataset": "Tiny", **t["params"]},
                                               overrides=[*tiny_args(tiny_config), "--epochs=1"])
        assert (t["best_valid_score"], t["test_result"]) == (plain["best_valid_score"], plain["test_result"]), t["params"]
    assert trials[0]["test_result"] != trials[1]["test_result"]  # the learning rate reached the model


def fake_result(model: str, score: float) -> dict:
    """What the objective function returns for a trial that validated at ``score``."""
    return {"model": model, "best_valid_score": score, "valid_score_bigger": True, "valid_metric": "ndcg@10",
            "best_valid_result": {"ndcg@10": score}, "test_result": {"ndcg@10": score / 2, "recall@10": score},
            "train_seconds": 1.0, "checkpoint": None}


def fake_objective(calls):
    def objective(config_dict, config_file_list=None, saved=True, overrides=None, pretrained=None, freeze=True,
                  checkpoint_name=None, resume=False):
        calls.append({"config_dict": dict(config_dict), "overrides": list(overrides or []),
                      "pretrained": pretrained, "freeze": freeze, "checkpoint_name": checkpoint_name, "resume": resume})
        return fake_result(config_dict["model"], {0.2: 0.3, 0.1: 0.5, 0.3: 0.5}[config_dict["adaptor_dropout_prob"]])
    return objective


def test_records_after_every_trial_and_passes_pretrained(tiny_root, tmp_path, monkeypatch) -> None:
    calls = []
    seen_rows = []
    monkeypatch.setattr(quick_start, "objective_function", fake_objective(calls))
    import recbole_unisrec.hyper as hyper

    real_write = hyper.write_results
    monkeypatch.setattr(hyper, "write_results", lambda out, trials, *a: seen_rows.append(len(trials)) or real_write(out, trials, *a))
    checkpoint = tmp_path / "pre.pth"
    checkpoint.write_bytes(b"")
    space = tmp_path / "space.hyper"
    space.write_text("adaptor_dropout_prob choice [0.2,0.1,0.3]\n")
    out = tmp_path / "hyper"
    run_hyper.main(["-m", "UniSRec", "-d", "Tiny", "--space", str(space), "--out", str(out), "-p", str(checkpoint),
                    "--no-freeze", "--epochs", "2", "--train_stage=transductive_ft", "--data-root", str(tiny_root)])
    assert seen_rows == [1, 2, 3]
    assert {c["config_dict"]["adaptor_dropout_prob"] for c in calls} == {0.1, 0.2, 0.3}
    assert all(c["pretrained"] == str(checkpoint) and c["freeze"] is False for c in calls)
    assert all(c["overrides"] == ["--train_stage=transductive_ft", f"--data_path={tiny_root}", "--epochs=2"] for c in calls)
    # each trial's best model (and resume state) has a name a resumed search finds again
    assert [(c["checkpoint_name"], c["resume"]) for c in calls] == [(f"hyper-trial{n}.pth", False) for n in (1, 2, 3)]
    data, rows = read_outputs(out)
    first_best = min(t["trial"] for t in data["trials"] if t["best_valid_score"] == 0.5)
    assert data["best"]["trial"] == first_best and len(rows) == 3  # ties: the first trial with the score


def scored_by_settings(calls, stop_after: int | None = None):
    """A fake objective whose score follows the drawn learning rate; it dies on call ``stop_after + 1``."""
    def objective(config_dict, config_file_list=None, saved=True, overrides=None, pretrained=None, freeze=True,
                  checkpoint_name=None, resume=False):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt  # the search is killed part-way
        calls.append(config_dict["learning_rate"])
        return fake_result(config_dict["model"], round(1 - abs(config_dict["learning_rate"] - 0.003) * 100, 6))
    return objective


@pytest.mark.parametrize("space, algo", [
    ("learning_rate choice [0.001,0.003,0.01]\n", ["--algo", "exhaustive"]),
    ("learning_rate loguniform -8,-4\n", ["--algo", "random", "--max-evals", "3"]),
    ("learning_rate loguniform -8,-4\n", ["--algo", "bayes", "--max-evals", "3"]),
])
def test_resume_trains_only_the_missing_trials(tiny_root, tmp_path, monkeypatch, space, algo) -> None:
    space_file = tmp_path / "space.hyper"
    space_file.write_text(space)
    base = ["-d", "Tiny", "--space", str(space_file), *algo, "--data-root", str(tiny_root), "--epochs", "2"]
    whole_calls = []
    monkeypatch.setattr(quick_start, "objective_function", scored_by_settings(whole_calls))
    run_hyper.main([*base, "--out", str(tmp_path / "whole")])
    assert len(whole_calls) == 3

    calls = []
    monkeypatch.setattr(quick_start, "objective_function", scored_by_settings(calls, stop_after=2))
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_hyper.main([*base, "--out", str(out)])
    before, _ = read_outputs(out)
    assert len(before["trials"]) == 2

    monkeypatch.setattr(quick_start, "objective_function", scored_by_settings(calls))
    run_hyper.main([*base, "--out", str(out), "--resume", "--show_progress=False"])
    assert calls == whole_calls  # two before the kill, then only the third: the same draws as unbroken
    after, rows = read_outputs(out)
    assert after["trials"][:2] == before["trials"] and len(after["trials"]) == len(rows) == 3
    whole, _ = read_outputs(tmp_path / "whole")
    assert [t["params"] for t in after["trials"]] == [t["params"] for t in whole["trials"]]
    assert after["best"] == whole["best"]

    run_hyper.main([*base, "--out", str(out), "--resume"])  # nothing missing: nothing trains
    assert len(calls) == 3 and read_outputs(out)[0]["trials"] == after["trials"]
    if "--max-evals" in algo:  # fewer trials asked for than recorded: none trains, none is dropped
        fewer = [*base[:base.index("--max-evals") + 1], "2", *base[base.index("--max-evals") + 2:]]
        run_hyper.main([*fewer, "--out", str(out), "--resume"])
        assert len(calls) == 3 and read_outputs(out)[0]["trials"] == after["trials"]


def test_resume_refuses_another_search(tiny_root, tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(quick_start, "objective_function", scored_by_settings(calls))
    space = tmp_path / "space.hyper"
    space.write_text("learning_rate choice [0.001,0.003]\n")
    out = tmp_path / "h"
    base = ["-d", "Tiny", "--space", str(space), "--data-root", str(tiny_root), "--out", str(out), "--resume"]
    run_hyper.main([*base, "--epochs", "2"])
    with pytest.raises(ValueError, match=r"h\.json: cannot resume: it was searched with settings=.*'epochs': '2'"):
        run_hyper.main([*base, "--epochs", "3"])
    with pytest.raises(ValueError, match=r"h\.json: cannot resume: it was searched with model='UniSRec'"):
        run_hyper.main([*base, "--epochs", "2", "-m", "SASRec"])
    space.write_text("learning_rate choice [0.01,0.003]\n")
    with pytest.raises(ValueError, match=r"h\.json: cannot resume: trial 1 was \{'learning_rate': 0.001\}, "
                                         r"this search draws \{'learning_rate': 0.01\}"):
        run_hyper.main([*base, "--epochs", "2"])
    out.with_name("h.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"h\.json: cannot resume from it"):
        run_hyper.main([*base, "--epochs", "2"])
    assert len(calls) == 2


def test_the_data_folder_may_come_from_a_config_file(tiny_root, tmp_path, monkeypatch) -> None:
    """The data set is looked for where the trials will look: data_path in --config_files counts."""
    calls = []
    monkeypatch.setattr(quick_start, "objective_function", fake_objective(calls))
    space = tmp_path / "space.hyper"
    space.write_text("adaptor_dropout_prob choice [0.2,0.1]\n")
    settings = tmp_path / "mine.yaml"
    settings.write_text(f"data_path: {tiny_root}\n")
    run_hyper.main(["-d", "Tiny", "--space", str(space), "--out", str(tmp_path / "h"), "--config_files", str(settings)])
    assert len(calls) == 2
    settings.write_text(f"data_path: {tmp_path / 'elsewhere'}\n")
    with pytest.raises(FileNotFoundError, match="data set 'Tiny' has no Tiny.train.inter"):
        run_hyper.main(["-d", "Tiny", "--space", str(space), "--out", str(tmp_path / "h"), "--config_files", str(settings)])
    assert len(calls) == 2


def test_exhaustive_max_evals_caps_the_grid(tiny_root, tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(quick_start, "objective_function", fake_objective(calls))
    space = tmp_path / "space.hyper"
    space.write_text("adaptor_dropout_prob choice [0.2,0.1,0.3]\ntemperature choice [0.05,0.07]\n")
    run_hyper.main(["-d", "Tiny", "--space", str(space), "--out", str(tmp_path / "h"), "--max-evals", "4",
                    "--data-root", str(tiny_root)])
    assert len(calls) == 4 and len({tuple(sorted(c["config_dict"].items())) for c in calls}) == 4
    calls.clear()
    space.write_text("adaptor_dropout_prob choice [0.1,0.3]\ntemperature choice [0.05,0.07]\n")  # one score
    run_hyper.main(["-d", "Tiny", "--space", str(space), "--out", str(tmp_path / "h"), "--early-stop", "1",
                    "--data-root", str(tiny_root)])
    assert len(calls) == 2  # the first trial, then one without a better score


def test_objective_gives_each_model_its_settings(monkeypatch, tmp_path) -> None:
    from recbole_unisrec import baselines

    calls = []
    monkeypatch.setattr(quick_start, "run", lambda *a, **k: calls.append(("run", a, k)))
    monkeypatch.setattr(baselines, "run_baseline", lambda *a, **k: calls.append(("baseline", a, k)))
    quick_start.objective_function({"model": "UniSRec", "dataset": "Tiny", "learning_rate": 0.01}, ["mine.yaml"],
                                   pretrained="pre.pth", freeze=False)
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text("model: SASRec\ndataset: Tiny\n")
    quick_start.objective_function({"learning_rate": 0.01}, [str(fixed)])  # RecBole's own way: model in a file
    (kind, args, kwargs), (kind2, args2, _) = calls
    assert kind == "run" and args[:3] == ("UniSRec", "Tiny", [str(PROPS / "finetune.yaml"), "mine.yaml"])
    assert args[3] == {"learning_rate": 0.01} and kwargs["pretrained"] == "pre.pth" and kwargs["freeze"] is False
    assert kind2 == "baseline" and args2[:3] == ("SASRec", None, [str(fixed)])  # run_baseline adds baseline.yaml


@pytest.mark.parametrize("text, line, message", [
    ("learning_rate choice [0.1]\nlearnig_rate choice [0.1]\n", 2, "did you mean 'learning_rate'"),
    ("# a comment line\n", 1, "comments are not supported"),
    ("learning_rate\tchoice\t[0.1]\n", 1, "single spaces"),
    ("learning_rate normal 0,1\n", 1, "unknown type 'normal'"),
    ("learning_rate choice [0.1\n", 1, "non-empty list"),
    ("learning_rate uniform 0.5,0.1\n", 1, "LOW < HIGH"),
    ("n_exps quniform 4,16,4\n", 1, "whole numbers"),
    ("train_stage choice [1,2]\n", 1, "must be str"),
    ("model choice ['SASRec']\n", 1, "not a setting a search can change"),
    ("learning_rate choice [0.1]\n\nlearning_rate choice [0.2]\n", 3, "searched twice"),
])
def test_bad_space_file_names_file_and_line(tmp_path, text, line, message) -> None:
    space = tmp_path / "bad.hyper"
    space.write_text(text)
    with pytest.raises(ValueError, match=f"{space}:{line}: .*{message}"):
        run_hyper.main(["-m", "UniSRec", "--space", str(space), "--out", str(tmp_path / "never")])
    assert not list(tmp_path.glob("never*"))


def test_other_bad_input_before_training(tmp_path) -> None:
    with pytest.raises(ValueError, match="missing.hyper: file not found"):
        run_hyper.main(["--space", str(tmp_path / "missing.hyper")])
    space = tmp_path / "s.hyper"
    space.write_text("learning_rate loguniform -8,-5\n")
    with pytest.raises(ValueError, match="exhaustive search needs 'choice'"):
        run_hyper.main(["--space", str(space)])
    with pytest.raises(ValueError, match="needs a number of trials"):
        run_hyper.main(["--space", str(space), "--algo", "bayes"])
    with pytest.raises(ValueError, match="--learning_rate is set by the search"):
        run_hyper.main(["--space", str(space), "--algo", "bayes", "--max-evals", "2", "--learning_rate=0.1"])
    space.write_text("n_exps choice [4,8]\n")
    with pytest.raises(ValueError, match="checkpoint fixes n_exps"):
        run_hyper.main(["--space", str(space), "-p", "x.pth"])


def test_shipped_space_files_parse() -> None:
    spaces = {path.stem: read_space(path) for path in (PROPS / "hyper").glob("*.hyper")}
    assert set(spaces) == {"UniSRec", "UniSRec-pretrained", "SASRec", "example", "learning-rate", "dropout", "weight-decay"}
    example = spaces["example"]
    assert [len(p.values) for p in example] == [2, 2] and all(p.kind == "choice" for p in example)
    (rate,) = spaces["learning-rate"]
    assert (rate.name, rate.kind, list(rate.values)) == ("learning_rate", "choice", [0.0003, 0.001, 0.003])
    (decay,) = spaces["weight-decay"]
    assert (decay.name, decay.kind, list(decay.values)) == ("weight_decay", "choice", [1e-5, 1e-4])


def test_best_trial_follows_the_metric_direction() -> None:
    trials = [{"trial": 1, "best_valid_score": 0.2, "valid_score_bigger": False},
              {"trial": 2, "best_valid_score": 0.1, "valid_score_bigger": False}]
    assert best_trial(trials)["trial"] == 2
