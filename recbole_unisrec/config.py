"""RecBole's Config, taught where this plugin's models and property files are.

Precedence is RecBole's own: RecBole's defaults < this plugin's ``props/`` files < the user's
config files < ``config_dict`` < ``--key=value`` on the command line.
"""
from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import recbole
import yaml
from recbole.config import Config as RecBoleConfig
from recbole.config.configurator import dataset_arguments, evaluation_arguments, general_arguments, training_arguments

from recbole_unisrec.data.layout import REPO_ROOT, SHIPPED_DATA

if TYPE_CHECKING:
    from recbole.model.abstract_recommender import AbstractRecommender

PROPS = REPO_ROOT / "props"


class Config(RecBoleConfig):
    """``overrides`` are ``--key=value`` strings (RecBole's command-line syntax); unlike RecBole's
    Config this one never reads ``sys.argv`` itself, so run scripts own their arguments."""

    def __init__(self, model: str | type[AbstractRecommender] | None = None, dataset: str | None = None,
                 config_file_list: list[str] | None = None, config_dict: dict[str, Any] | None = None,
                 overrides: list[str] | None = None) -> None:
        self._overrides = list(overrides or [])
        super().__init__(model, dataset, config_file_list, config_dict)
        check_user_settings(self.external_config_dict, self.final_config_dict)

    def _load_cmd_line(self):
        return self._convert_config_dict(parse_overrides(self._overrides))

    def _get_model_and_dataset(self, model, dataset):
        from recbole_unisrec.registry import get_model

        if model is None:  # named in a config file, config_dict or --model= (as HyperTuning's fixed files do)
            model = self.external_config_dict.get("model")
        if isinstance(model, str):
            try:
                model = get_model(model)
            except ModuleNotFoundError as error:  # RecBole's lookup ends in exlib_recommender, which imports lightgbm
                missing = f" ({error})" if error.name and error.name in model.lower() else ""
                raise ValueError(f"unknown model {model!r}{missing}") from None
        return super()._get_model_and_dataset(model, dataset)

    def _init_device(self):
        """RecBole's own, except under an initialised process group (``torchrun``, see
        ``recbole_unisrec.distributed``): RecBole's would start another one, NCCL and CUDA only."""
        from recbole_unisrec.distributed import init_device

        if not init_device(self.final_config_dict):
            super()._init_device()

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        self.internal_config_dict["data_path"] = str(SHIPPED_DATA)
        for props_file in plugin_props(model):
            self._update_internal_config_dict(str(props_file))


def plugin_props(model: str) -> list[Path]:
    """The plugin's property files that apply to ``model``: the data layout, then the model's own."""
    files = [PROPS / "data.yaml"]
    if (PROPS / f"{model}.yaml").is_file():
        files.append(PROPS / f"{model}.yaml")
    return files


def parse_overrides(args: list[str]) -> dict[str, str]:
    """``["--lr=0.1", ...]`` to ``{"lr": "0.1"}``; anything else is a one-line error."""
    parsed: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not key or not sep:
            raise ValueError(f"unrecognised argument {arg!r}: RecBole settings are given as --key=value")
        if key in parsed and parsed[key] != value:
            raise ValueError(f"--{key} given twice with different values")
        parsed[key] = value
    return parsed


def merge_overrides(stored: list[str], given: list[str]) -> list[str]:
    """A resumed run's ``--key=value`` settings: the ones it was started with, ``given`` on top."""
    merged = {**parse_overrides(stored), **parse_overrides(given)}
    return [f"--{key}={value}" for key, value in merged.items()]


RUNTIME_KEYS = {"model", "dataset", "config_files", "local_rank", "nproc", "world_size", "offset", "ip", "port",
                "single_spec", "device", "valid_metric_bigger", "data_path", "MODEL_TYPE", "MODEL_INPUT_TYPE"}
"""Settings RecBole fills in or accepts that no property file lists."""


@lru_cache(maxsize=1)
def known_settings() -> dict[str, object]:
    """Every setting RecBole or this plugin defines, with this plugin's defaults (for types)."""
    known: dict[str, object] = dict.fromkeys(RUNTIME_KEYS)
    for arguments in (general_arguments, training_arguments, evaluation_arguments, dataset_arguments):
        known.update(dict.fromkeys(arguments))
    recbole_props = Path(recbole.__file__).parent / "properties"
    for props_file in [*recbole_props.rglob("*.yaml"), *PROPS.glob("*.yaml")]:
        with open(props_file, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
        if props_file.parent == PROPS:
            known.update(values)
        else:
            known.update({key: known.get(key) for key in values})
    return known


DATA_FOLDER_SPELLINGS = {"dataroot", "datafolder", "datadir"}
"""Names (lower case, without ``-`` and ``_``) a user may try for RecBole's ``data_path``."""


def setting_hint(key: str, known: dict[str, object]) -> str:
    """``"; did you mean ..."`` for an unknown setting ``key``, or ``""``."""
    if key.replace("-", "").replace("_", "").lower() in DATA_FOLDER_SPELLINGS:
        return "; the folder holding the data sets is --data-root DIR (data_path in a config file)"
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_user_settings(user: dict, final: dict) -> None:
    """Unknown keys and values of the wrong type fail here, before any data is loaded."""
    known = known_settings()
    for key, value in user.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r}{setting_hint(key, known)}")
        default = known[key]
        if default is None or value is None:
            continue
        numeric = (int, float)
        if isinstance(default, bool) != isinstance(value, bool) or (
                isinstance(default, numeric) and not isinstance(value, numeric)) or (
                isinstance(default, (str, list)) and not isinstance(value, type(default))):
            raise ValueError(f"setting {key!r} must be {type(default).__name__} like {default!r}, got {value!r}")
