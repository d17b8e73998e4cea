"""The run scripts as a person meets them: a mistake is one line ``<script>: error: ...`` and exit
status 2 (the traceback only with --debug), ``--data-root`` names the data folder in every script,
and a finished run prints plain numbers, its checkpoint and a command that uses it."""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import run_anisotropy
import run_baseline
import run_cold_start
import run_compare
import run_finetune
import run_hyper
import run_pretrain
from recbole_unisrec.__main__ import main as cli_main
from recbole_unisrec.cli import is_user_error, run_script, with_data_root
from recbole_unisrec.config import check_user_settings
from recbole_unisrec.data.corpus import build_corpus
from recbole_unisrec.data.layout import require_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent / "model"))
from model_fixtures import TINY_CONFIG, write_fixture  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def junk(tmp_path: Path) -> Path:
    """Bytes that are no checkpoint where one should be."""
    path = tmp_path / "junk.pth"
    path.write_bytes(bytes(range(256)))
    return path


def bad_inputs(tmp: Path, junk: Path) -> list[tuple[object, list[str], str]]:
    """``(script, argv, what its one error line says)``: one mistake per script, each found before any data is read."""
    return [
        (run_finetune, ["-p", str(tmp / "missing.pth")], "missing.pth: checkpoint file not found"),
        (run_pretrain, ["--resume", str(junk)], "junk.pth: not a checkpoint (unreadable pickle data)"),
        (run_baseline, ["-d", "Nope", "--data-root", str(tmp)], "data set 'Nope' has no Nope.train.inter"),
        (run_compare, ["-m", "SASRec", "--lerning_rate=0.1", "--out", str(tmp / "c")], "did you mean 'learning_rate'"),
        (run_hyper, ["--space", str(tmp / "missing.hyper")], "missing.hyper: file not found"),
        (run_cold_start, [str(junk)], "junk.pth: not a checkpoint (unreadable pickle data)"),
        (run_anisotropy, ["-d", "Nope", "--data-root", str(tmp), "--cached-only"], "data set 'Nope' has no folder"),
    ]


@pytest.mark.parametrize("index", range(7), ids=["finetune", "pretrain", "baseline", "compare", "hyper", "cold_start",
                                                 "anisotropy"])
def test_a_mistake_is_one_line_and_exit_2_the_traceback_only_with_debug(index, tmp_path, junk, capsys) -> None:
    script, argv, message = bad_inputs(tmp_path, junk)[index]
    name = Path(script.__file__).name
    with pytest.raises(SystemExit) as stop:
        run_script(script.main, argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"{name}: error: ") and message in err
    with pytest.raises(SystemExit) as stop:
        run_script(script.main, [*argv, "--debug"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("Traceback (most recent call last):") and message in err


def test_as_a_process_the_debug_variable_shows_the_traceback(tmp_path) -> None:
    command = [sys.executable, "run_finetune.py", "--epochs=ten"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECBOLE_UNISREC_DEBUG": "0"}
    plain = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr == "run_finetune.py: error: setting 'epochs' must be int like 300, got 'ten'\n"
    debug = subprocess.run(command, cwd=REPO, env={**env, "RECBOLE_UNISREC_DEBUG": "1"}, capture_output=True, text=True,
                           timeout=120)
    assert debug.returncode == 2 and debug.stderr.startswith("Traceback")
    assert debug.stderr.splitlines()[-1] == "ValueError: setting 'epochs' must be int like 300, got 'ten'"


def test_a_bug_keeps_its_traceback() -> None:
    def broken(argv):
        return json.loads("not json")  # a ValueError raised inside the standard library: not the user's doing

    with pytest.raises(json.JSONDecodeError):
        run_script(broken, [])
    with pytest.raises(KeyError):
        run_script(lambda argv: {}["key"], [])


def test_which_errors_are_the_users() -> None:
    def raised(function) -> BaseException:
        try:
            function()
        except Exception as error:  # noqa: BLE001  (the test looks at whatever was raised)
            return error
        raise AssertionError("nothing raised")

    assert is_user_error(raised(lambda: check_user_settings({"lerning_rate": 1}, {})))
    assert is_user_error(raised(lambda: open("/nonexistent/file")))
    assert not is_user_error(raised(lambda: json.loads("x")))
    assert not is_user_error(raised(lambda: [][0]))


# --------------------------------------------------------------------------------------------
# One spelling for the data folder: --data-root
# --------------------------------------------------------------------------------------------

def test_with_data_root_is_recbole_data_path() -> None:
    assert with_data_root(None, ["--epochs=1"]) == ["--epochs=1"]
    assert with_data_root("/d", ["--epochs=1"]) == ["--epochs=1", "--data_path=/d"]
    assert with_data_root("/d", ["--data_path=/d/", "--epochs=1"]) == ["--epochs=1", "--data_path=/d"]
    with pytest.raises(ValueError, match="--data-root /d and --data_path=/e name different folders"):
        with_data_root("/d", ["--data_path=/e"])


@pytest.mark.parametrize("argv", [["--data-root={}"], ["--data-root", "{}"], ["--data_root", "{}"], ["--data_path={}"]])
def test_run_finetune_reads_data_sets_from_data_root(argv, tmp_path, capsys) -> None:
    argv = [arg.format(tmp_path) for arg in argv]
    with pytest.raises(SystemExit):
        run_script(run_finetune.main, ["-d", "Goodreads", *argv])
    assert capsys.readouterr().err == (
        f"run_finetune.py: error: data set 'Goodreads' has no Goodreads.train.inter (or .gz) in {tmp_path / 'Goodreads'}; "
        f"data sets found in {tmp_path}: none; give --data-root DIR if Goodreads/ is in another folder DIR\n")


@pytest.mark.parametrize("flag", ["--data-root", "--data_root"])
def test_run_cold_start_reads_data_sets_from_data_root(flag, tmp_path) -> None:
    checkpoint = tmp_path / "sasrec.pth"
    torch.save({"state_dict": {}, "config": {"model": "SASRec", "dataset": "Tiny"}}, checkpoint)
    with pytest.raises(FileNotFoundError, match=f"in {re.escape(str(tmp_path / 'Tiny'))}; data sets found in"):
        run_cold_start.main([flag, str(tmp_path), str(checkpoint)])


def test_a_missing_data_set_names_the_flag_and_the_data_sets_there(tmp_path) -> None:
    write_fixture(tmp_path, "Tiny")
    with pytest.raises(FileNotFoundError) as error:
        require_dataset(tmp_path / "Tony", "Tony")
    assert str(error.value) == (f"data set 'Tony' has no Tony.train.inter (or .gz) in {tmp_path / 'Tony'}; "
                                f"data sets found in {tmp_path}: Tiny; "
                                "give --data-root DIR if Tony/ is in another folder DIR")
    (tmp_path / "Tiny" / "Tiny.test.inter").unlink()
    with pytest.raises(FileNotFoundError, match=r"no Tiny\.test\.inter \(or \.gz\) in .*--data-root DIR"):
        require_dataset(tmp_path / "Tiny", "Tiny")
    with pytest.raises(ValueError, match="unknown domain Nope: .*give --data-root DIR if Nope/ is in another folder"):
        build_corpus(["Tiny", "Nope"], tmp_path, tmp_path / "out")


@pytest.mark.parametrize("key", ["data-root", "data_root", "dataroot", "DataRoot", "data_dir"])
def test_unknown_setting_for_the_data_folder_suggests_data_root(key) -> None:
    with pytest.raises(ValueError, match=f"unknown setting '{key}'; the folder holding the data sets is --data-root DIR"):
        check_user_settings({key: "/d"}, {})


def test_unknown_model_is_a_value_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):  # RecBole's own lookup fails importing lightgbm for an unknown name
        run_script(run_baseline.main, ["-m", "Nope", "--data-root", str(tmp_path)])
    assert capsys.readouterr().err == "run_baseline.py: error: unknown model 'Nope'\n"


def test_a_cutoff_the_evaluator_cannot_compute_names_the_setting(tmp_path, capsys) -> None:
    root = write_fixture(tmp_path / "data")
    items = len((root / "Tiny" / "Tiny.item2index").read_text().splitlines())
    argv = [arg for arg in tiny_argv(root, tmp_path) if not arg.startswith("--topk=")]
    with pytest.raises(SystemExit):
        run_script(run_finetune.main, [*argv, f"--topk=[10,{items + 1}]"])
    assert capsys.readouterr().err.splitlines()[-1] == (  # after the text encoder's progress bar
        f"run_finetune.py: error: topk: cut-off {items + 1} is larger than the {items} items of Tiny; "
        f"give cut-offs of at most {items}")
    fresh = write_fixture(tmp_path / "fresh")  # texts never encoded: the error comes before any data is read
    with pytest.raises(SystemExit):  # early stopping watches NDCG@10
        run_script(run_finetune.main, [*argv, "--data-root", str(fresh), f"--topk=[5,{items}]"])
    assert capsys.readouterr().err == (
        f"run_finetune.py: error: valid_metric: NDCG@10 is not computed (metrics ['Recall', 'NDCG'], topk [5, {items}])\n")
    with pytest.raises(SystemExit):
        run_script(run_finetune.main, [*argv, "--topk=[5,10]", "--valid_metric=NDCG@ten"])
    assert capsys.readouterr().err.splitlines()[-1].startswith("run_finetune.py: error: valid_metric: NDCG@ten is not computed")
    assert run_finetune.main([*argv, f"--topk=[10,{items}]"])["test_result"][f"recall@{items}"] == 1.0


# --------------------------------------------------------------------------------------------
# The end of a run
# --------------------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def finished_run(script, argv: list[str], caplog) -> tuple[dict, dict[str, str]]:
    """Run ``script`` on the Tiny data; its result and its last log lines by label."""
    with caplog.at_level(logging.INFO):
        result = script.main(argv)
    lines = [ANSI.sub("", record.getMessage()) for record in caplog.records]
    labelled = dict(line.split(": ", 1) for line in lines if line.split(": ", 1)[0] in
                    ("best valid", "test result", "checkpoint", "use it"))
    return result, labelled


def tiny_argv(root: Path, tmp_path: Path) -> list[str]:
    settings = {**TINY_CONFIG, "checkpoint_dir": str(tmp_path / "saved"), "state": "INFO"}
    return ["-d", "Tiny", "--data-root", str(root), *(f"--{key}={value}" for key, value in settings.items())]


def plain(metrics: dict[str, float]) -> str:
    return "    ".join(f"{key} : {value}" for key, value in metrics.items())


def test_finetune_ends_with_plain_numbers_the_checkpoint_and_a_recommend_command_that_works(tmp_path, caplog,
                                                                                            capsys) -> None:
    root = write_fixture(tmp_path / "data")
    result, lines = finished_run(run_finetune, tiny_argv(root, tmp_path), caplog)
    assert lines["test result"] == plain(result["test_result"]) and "np.float64" not in lines["test result"]
    assert lines["best valid"] == plain(result["best_valid_result"])
    assert lines["checkpoint"] == result["checkpoint"]
    command = shlex.split(lines["use it"])
    assert command[:3] == ["python", "-m", "recbole_unisrec"]
    assert command[3:] == ["recommend", "--checkpoint", result["checkpoint"], "-d", "Tiny", "--data-root", str(root),
                           "--history", "c0i0 c0i1 c0i2"]
    capsys.readouterr()
    assert cli_main([*command[3:], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["history"] == ["c0i0", "c0i1", "c0i2"] and len(shown["recommendations"]) == 10


def test_a_baseline_ends_with_the_command_that_evaluates_its_checkpoint(tmp_path, caplog, capsys) -> None:
    root = write_fixture(tmp_path / "data")
    result, lines = finished_run(run_baseline, ["-m", "SASRec", *tiny_argv(root, tmp_path)], caplog)
    assert lines["test result"] == plain(result["test_result"])
    command = shlex.split(lines["use it"])
    assert command[3:] == ["evaluate", "-p", result["checkpoint"], "-d", "Tiny", "--data-root", str(root)]
    capsys.readouterr()
    assert cli_main([*command[3:], "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["metrics"]
    assert evaluated["recall@10"] == pytest.approx(result["test_result"]["recall@10"], abs=1e-4)


def test_a_search_on_a_missing_data_set_stops_before_its_first_trial(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        run_script(run_hyper.main, ["-d", "Nope", "--data-root", str(tmp_path), "--space", str(REPO / "props/hyper/example.hyper")])
    out, err = capsys.readouterr()
    assert out == ""  # hyperopt prints each trial's parameters: no trial started
    assert err.startswith("run_hyper.py: error: data set 'Nope' has no Nope.train.inter") and err.count("\n") == 1
