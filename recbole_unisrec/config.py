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
