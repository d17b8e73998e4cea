"""What the run scripts (``run_finetune.py`` ...) share: their parser's common flags, and how they end
on a user's mistake.

A mistake (a missing or unreadable checkpoint, an unknown data set, a misspelt setting, a value
of the wrong type) ends a script with one line ``<script>: error: ...`` on stderr and exit status 2,
as ``python -m recbole_unisrec`` does; ``--debug`` (or ``RECBOLE_UNISREC_DEBUG=1``) shows its
traceback too. Any other exception keeps its traceback: it is a bug to report, not a typo to fix.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import recbole

from recbole_unisrec.config import parse_overrides
from recbole_unisrec.data.layout import REPO_ROOT
from recbole_unisrec.text.encoder import ModelLoadError

DEBUG_FLAG = "--debug"
DEBUG_ENV = "RECBOLE_UNISREC_DEBUG"
PACKAGE_DIR = Path(__file__).resolve().parent
RECBOLE_DIR = Path(recbole.__file__).resolve().parent


def script_parser(description: str, data_root_default: str = "the shipped dataset/") -> argparse.ArgumentParser:
    """A run script's parser with the flags every script has: ``--debug`` and ``--data-root``
    (``--data_root`` is accepted too)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data-root", "--data_root", dest="data_root", default=None, metavar="DIR",
                        help=f"folder holding the data sets, each in DIR/NAME/ (default: {data_root_default})")
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help=f"on an error, show its traceback (as does {DEBUG_ENV}=1)")
    return parser


def with_data_root(data_root: str | None, overrides: list[str]) -> list[str]:
    """``overrides`` with ``--data-root DIR`` given as RecBole's ``--data_path=DIR`` (both name the
    folder that holds ``NAME/``); the two naming different folders is an error."""
    if data_root is None:
        return list(overrides)
    given = parse_overrides(overrides).get("data_path")
    if given is not None and Path(given).resolve() != Path(data_root).resolve():
        raise ValueError(f"--data-root {data_root} and --data_path={given} name different folders; give one of them")
    return [arg for arg in overrides if not arg.startswith("--data_path=")] + [f"--data_path={data_root}"]


def is_user_error(error: BaseException) -> bool:
    """A mistake in what the user gave, as opposed to a bug: a file not found anywhere; a
    ``ValueError`` (checkpoint, data format and setting errors among them) or an unloadable text
    encoder raised by this project or RecBole on purpose (one raised inside torch or numpy is a
    bug); RecBole's ``NotImplementedError`` for a value it does not support (a metric, a loss)."""
    if isinstance(error, FileNotFoundError):
        return True
    origin = _raised_in(error)
    if isinstance(error, (ValueError, ModelLoadError)):
        return origin.parent == REPO_ROOT or origin.is_relative_to(PACKAGE_DIR) or origin.is_relative_to(RECBOLE_DIR)
    return isinstance(error, NotImplementedError) and origin.is_relative_to(RECBOLE_DIR)


def _raised_in(error: BaseException) -> Path:
    """The file whose code raised ``error``."""
    frames = traceback.extract_tb(error.__traceback__)
    return Path(frames[-1].filename).resolve() if frames else Path()


def one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def debugging(argv: list[str] | None = None) -> bool:
    arguments = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in arguments or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_script(main: Callable[[list[str] | None], Any], argv: list[str] | None = None) -> Any:
    """``main(argv)``, its result returned; a user's mistake ends the process with one line on
    stderr (after the traceback when debugging) and exit status 2."""
    try:
        return main(argv)
    except Exception as error:
        if not is_user_error(error):
            raise
        if debugging(argv):
            traceback.print_exc()
        else:
            script = Path(sys.modules[main.__module__].__file__).name
            print(f"{script}: error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
