"""RecBole's Config, taught where this plugin's models and property files are.

Precedence is RecBole's own: RecBole's defaults < this plugin's ``props/`` files < the user's
config files < ``config_dict`` < ``--key=value`` on the command line.
"""
from __future__ import annotations

from pathlib import Path

from recbole.config import Config as RecBoleConfig

from recbole_unisrec.data.layout import REPO_ROOT, SHIPPED_DATA

PROPS = REPO_ROOT / "props"


class Config(RecBoleConfig):
    """``overrides`` are ``--key=value`` strings (RecBole's command-line syntax); unlike RecBole's
    Config this one never reads ``sys.argv`` itself, so run scripts own their arguments."""

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, overrides=None):
        self._overrides = list(overrides or [])
        super().__init__(model, dataset, config_file_list, config_dict)

    def _load_cmd_line(self):
        return self._convert_config_dict(parse_overrides(self._overrides))

    def _get_model_and_dataset(self, model, dataset):
        from recbole_unisrec.registry import get_model

        if isinstance(model, str):
            model = get_model(model)
        return super()._get_model_and_dataset(model, dataset)

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
