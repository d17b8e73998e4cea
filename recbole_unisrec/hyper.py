"""Hyperparameter search (``run_hyper.py``): RecBole's ``HyperTuning`` (hyperopt) over this
plugin's objective function, with a result table rewritten after every trial, and a search that
resumes from that table (``--resume``): a trial already recorded is replayed, not trained again.

A search space file has RecBole's syntax, one setting a line, fields separated by single spaces
(RecBole's parser has no comments; a line starting with ``#`` is refused here)::

    learning_rate choice [0.0003,0.001,0.003]
    hidden_dropout_prob uniform 0.1,0.5
    learning_rate loguniform -8.1,-5.8
    n_exps quniform 4,12,4

``loguniform`` takes the bounds of the logarithm: ``exp(uniform(-8.1, -5.8))`` is 3e-4 .. 3e-3.
``quniform`` draws floats (4.0, 8.0, 12.0), so settings that take whole numbers need ``choice``.
Every line is checked (known setting, value types, exhaustive search only over ``choice``)
before the first trial; an error names the file and line.
"""
from __future__ import annotations

import ast
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path
from typing import Any

from recbole.trainer import HyperTuning

from recbole_unisrec.config import RUNTIME_KEYS, Config, check_user_settings, known_settings, parse_overrides
from recbole_unisrec.data.layout import require_dataset
from recbole_unisrec.fileio import DataFormatError, atomic_write, beside, read_lines

SHAPE_SETTINGS = ("hidden_size", "inner_size", "n_layers", "n_heads", "n_exps", "adaptor_layers")
"""Settings a pre-trained checkpoint fixes (its weights have these shapes)."""

KINDS = {"choice": 1, "uniform": 2, "quniform": 3, "loguniform": 2}
"""RecBole's distribution names and how many numbers each range takes (choice: a list)."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    values: tuple


def read_space(path: str | Path) -> list[Param]:
    """The settings a space file searches, checked line by line as RecBole will parse them."""
    params: list[Param] = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            raise DataFormatError(path, "comments are not supported (RecBole's parser would read them)", number)
        fields = line.strip().split(" ")  # RecBole's own split: single spaces only
        if len(fields) < 3 or not fields[1]:
            raise DataFormatError(path, "expected NAME TYPE VALUES separated by single spaces", number)
        name, kind, text = fields[0], fields[1], "".join(fields[2:])
        if kind not in KINDS:
            raise DataFormatError(path, f"unknown type {kind!r} (choice, uniform, quniform or loguniform)", number)
        if name in RUNTIME_KEYS:
            raise DataFormatError(path, f"{name!r} is not a setting a search can change", number)
        try:
            check_user_settings({name: None}, {})  # unknown names, with a close match
        except ValueError as error:
            raise DataFormatError(path, str(error), number) from None
        if any(p.name == name for p in params):
            raise DataFormatError(path, f"{name!r} is searched twice", number)
        try:
            values = ast.literal_eval(text) if kind == "choice" else tuple(float(v) for v in text.split(","))
        except (ValueError, SyntaxError):
            values = None
        if kind == "choice" and not (isinstance(values, list) and values):
            raise DataFormatError(path, f"choice needs a non-empty list like [0.001,0.01], got {text!r}", number)
        if kind != "choice" and (values is None or len(values) != KINDS[kind] or not values[0] < values[1]):
            raise DataFormatError(path, f"{kind} needs {'LOW,HIGH,Q' if kind == 'quniform' else 'LOW,HIGH'} "
                                        f"with LOW < HIGH, got {text!r}", number)
        if kind != "choice" and isinstance(known_settings()[name], int) and not isinstance(known_settings()[name], bool):
            raise DataFormatError(path, f"{name!r} takes whole numbers: use choice [..]", number)
        samples = values if kind == "choice" else [math.exp(values[0]) if kind == "loguniform" else values[0]]
        try:
            for sample in samples:
                check_user_settings({name: sample}, {})
        except ValueError as error:
            raise DataFormatError(path, str(error), number) from None
        params.append(Param(name, kind, tuple(values)))
    if not params:
        raise DataFormatError(path, "no setting to search")
    return params


class RecordingHyperTuning(HyperTuning):
    """RecBole's ``HyperTuning`` that calls ``on_trial(params, result, seconds)`` after every trial,
    draws its samples from a seeded generator and stops early only when asked."""

    def __init__(self, *args, on_trial: Callable[[dict[str, Any], dict[str, Any], float], None], search_seed: int = 0,
                 early_stop: int | None = None, **kwargs) -> None:
        super().__init__(*args, early_stop=early_stop or 1, **kwargs)
        self.on_trial = on_trial
        self.search_seed = search_seed
        if not early_stop:
            self.early_stop_fn = None

    def trial(self, params: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = super().trial(params)
        self.on_trial(params, self.params2result[self.params_list[-1]], time.perf_counter() - started)
        return outcome

    def run(self) -> None:
        import numpy as np
        from hyperopt import fmin

        fmin(self.trial, self.space, algo=self.algo, max_evals=self.max_evals, early_stop_fn=self.early_stop_fn,
             rstate=np.random.RandomState(self.search_seed), show_progressbar=False)


# --- results --------------------------------------------------------------------------------

def _plain(value):
    """numpy scalars (as hyperopt may return them) to plain Python values, for JSON."""
    return value.item() if hasattr(value, "item") else value


def best_trial(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The trial with the best validation score (the first of equals)."""
    sign = 1 if trials[0]["valid_score_bigger"] else -1
    return max(trials, key=lambda t: (sign * t["best_valid_score"], -t["trial"]))


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(trials: list[dict[str, Any]], names: list[str], header: str) -> str:
    best = best_trial(trials)
    metric = best["valid_metric"]
    columns = ["Trial", *names, f"Valid {metric}", "Test NDCG@10", "Test Recall@10", "Seconds"]
    lines = [header, "", "| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for t in trials:
        label = f"**{t['trial']} (best)**" if t is best else str(t["trial"])
        test = t["test_result"]
        cells = [label, *(_cell(t["params"].get(n, "")) for n in names), f"{t['best_valid_score']:.4f}",
                 f"{test.get('ndcg@10', float('nan')):.4f}", f"{test.get('recall@10', float('nan')):.4f}",
                 f"{t['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    setting = ", ".join(f"{n}={_cell(best['params'][n])}" for n in names if n in best["params"])
    lines += ["", f"Best: trial {best['trial']}, {setting} (valid {metric} {best['best_valid_score']:.4f}, "
                  f"test NDCG@10 {best['test_result'].get('ndcg@10', float('nan')):.4f})."]
    return "\n".join(lines) + "\n"


def result_paths(out: str | Path) -> list[Path]:
    """``<out>.md`` and ``<out>.json``."""
    return [beside(out, ".md"), beside(out, ".json")]


def write_results(out: str | Path, trials: list[dict[str, Any]], names: list[str], info: dict[str, Any]) -> list[Path]:
    """``<out>.md`` and ``<out>.json`` (best params and every trial), each written atomically."""
    md_path, json_path = result_paths(out)
    best = best_trial(trials)
    header = (f"# Hyperparameter search: {info['model']} on {info['dataset']}\n\n`{info['command']}`\n\n"
              f"{info['algo']} search over `{info['space']}`, {len(trials)} trial(s) finished; "
              f"valid: best validation {best['valid_metric']} of the trial; test: that epoch's model "
              f"on the test set; seconds: wall time of the trial (data, training, test).")
    with atomic_write(md_path) as handle:
        handle.write(markdown(trials, names, header))
    with atomic_write(json_path) as handle:
        json.dump({**info, "best": {"trial": best["trial"], "params": best["params"],
                                    "best_valid_score": best["best_valid_score"], "test_result": best["test_result"],
                                    "checkpoint": best["checkpoint"]},
                   "trials": trials}, handle, indent=1)
        handle.write("\n")
    return [md_path, json_path]


RESULT_KEYS = ("best_valid_score", "valid_score_bigger", "valid_metric", "best_valid_result", "test_result",
               "train_seconds", "checkpoint")
"""The objective function's results a trial records (and a resumed search gives back)."""


# --- resuming --------------------------------------------------------------------------------

RESUME_KEYS = ("model", "dataset", "algo", "space", "pretrained", "freeze", "search_seed", "settings")
"""What a resumed search must share with the recorded one for its trials to be the same trials."""

DISPLAY_SETTINGS = ("show_progress", "state")
"""--key=value settings that change only what is printed, so a resumed search may differ in them."""


def recorded_trials(json_path: Path, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials ``json_path`` holds, after checking it was written by the same search as ``info``."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataFormatError(json_path, f"cannot resume from it: {error}") from None
    for key in RESUME_KEYS:
        if key in data and data[key] != info[key]:
            raise ValueError(f"{json_path}: cannot resume: it was searched with {key}={data[key]!r}, "
                             f"this search has {key}={info[key]!r} (use another --out)")
    return list(data.get("trials", []))


def replayed_result(trial: dict[str, Any], model: str) -> dict[str, Any]:
    """A recorded trial as the objective function's result (no model is trained)."""
    return {"model": model, **{k: trial.get(k) for k in RESULT_KEYS}}


# --- the search -----------------------------------------------------------------------------

def hyper_search(
    model: str,
    dataset: str,
    space: str | Path,
    out: str | Path,
    algo: str = "exhaustive",
    max_evals: int | None = None,
    early_stop: int | None = None,
    search_seed: int = 0,
    config_file_list: list[str] | None = None,
    overrides: list[str] | None = None,
    pretrained: str | None = None,
    freeze: bool = True,
    command: str = "",
    resume: bool = False,
) -> list[Path]:
    """Search ``space`` for ``model`` on ``dataset``; writes ``<out>.md`` and ``<out>.json`` after every trial.

    With ``resume``, the trials in ``<out>.json`` are replayed in order (the exhaustive grid and the
    seeded samplers draw the same settings again, and bayes sees the same scores), so only the
    missing trials train, the one stopped part-way from its last validated epoch (trial ``n``'s
    best model is ``<out name>-trial<n>.pth`` under ``checkpoint_dir``).
    """
    from recbole_unisrec.compare import check_model
    from recbole_unisrec.quick_start import objective_function

    params = read_space(space)
    names = [p.name for p in params]
    check_model(model)
    given = parse_overrides(list(overrides or []))
    for name in ("model", "dataset", *names):
        if name in given:
            raise ValueError(f"--{name} is set by the search" + (f" ({space})" if name in names else "") +
                             "; do not give it as --key=value")
    if algo not in ("exhaustive", "random", "bayes"):
        raise ValueError(f"unknown search algorithm {algo!r} (exhaustive, random or bayes)")
    if algo == "exhaustive" and any(p.kind != "choice" for p in params):
        raise ValueError(f"{space}: exhaustive search needs 'choice' for every setting")
    if algo != "exhaustive" and not max_evals:
        raise ValueError(f"{algo} search needs a number of trials (--max-evals)")
    if pretrained and model != "UniSRec":
        raise ValueError("only UniSRec fine-tunes from a pre-trained checkpoint here")
    if pretrained and set(names) & set(SHAPE_SETTINGS):
        raise ValueError(f"{space}: with -p the checkpoint fixes {', '.join(n for n in names if n in SHAPE_SETTINGS)}; "
                         "search the others (e.g. props/hyper/UniSRec-pretrained.hyper)")
    if pretrained and not Path(pretrained).is_file():
        raise ValueError(f"checkpoint {pretrained} not found")
    # the data folder as every trial's Config resolves it (overrides, then config files, then the shipped
    # data), checked before hyperopt starts and prints a trial
    require_dataset(Config(model=model, dataset=dataset, config_file_list=config_file_list, overrides=overrides)["data_path"],
                    dataset)

    info = {"command": command, "model": model, "dataset": dataset, "algo": algo, "space": str(space),
            "pretrained": pretrained, "freeze": freeze if pretrained else None, "search_seed": search_seed,
            "settings": {k: v for k, v in given.items() if k not in DISPLAY_SETTINGS}}
    json_path = result_paths(out)[1]
    replay = recorded_trials(json_path, info) if resume and json_path.is_file() else []
    trials: list[dict[str, Any]] = []
    paths: list[Path] = []

    def record(trial_params: dict, result: dict, seconds: float) -> None:
        nonlocal paths
        if len(trials) < len(replay):
            trials.append(replay[len(trials)])
            getLogger().info(f"run_hyper: trial {len(trials)} replayed from {json_path}")
            return
        trials.append({"trial": len(trials) + 1, "params": {k: _plain(v) for k, v in trial_params.items()},
                       **{k: result.get(k) for k in RESULT_KEYS},
                       "seconds": seconds})
        paths = write_results(out, trials, names, info)
        getLogger().info(f"run_hyper: trial {len(trials)} recorded in {paths[0]}")

    def objective(trial_params: dict, config_files: list[str] | None) -> dict:
        if len(trials) < len(replay):
            recorded = replay[len(trials)]
            drawn = {k: _plain(v) for k, v in trial_params.items()}
            if recorded["params"] != drawn:
                raise ValueError(f"{json_path}: cannot resume: trial {len(trials) + 1} was {recorded['params']}, "
                                 f"this search draws {drawn} (use another --out)")
            return replayed_result(recorded, model)
        return objective_function({**trial_params, "model": model, "dataset": dataset}, config_files,
                                  overrides=overrides, pretrained=pretrained, freeze=freeze,
                                  checkpoint_name=f"{Path(out).name}-trial{len(trials) + 1}.pth", resume=resume)

    tuner = RecordingHyperTuning(objective, params_file=str(space), fixed_config_file_list=config_file_list,
                                 algo=algo, max_evals=max_evals or 1, on_trial=record, search_seed=search_seed,
                                 early_stop=early_stop)
    if algo == "exhaustive" and max_evals:
        tuner.max_evals = min(tuner.max_evals, max_evals)  # RecBole sets the grid size
    tuner.run()
    if not paths and replay:  # nothing new trained: the recorded tables stay as they are (all their trials)
        paths = result_paths(out)
    return paths

