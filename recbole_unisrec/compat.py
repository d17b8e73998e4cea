"""Every fix that recbole 1.2.1 needs on today's libraries, applied once on package import.

Each fix names the library version that made it necessary. Two further breakages are handled by
pins in ``requirements.txt`` / ``setup.py`` rather than here, because no patch can fix them
cleanly:

* setuptools >= 81 removed ``pkg_resources``, which ray 2.6 (imported by
  ``recbole.quick_start``) needs: pinned ``setuptools<81``.
* pandas 3 breaks RecBole's ``token_seq`` remapping ("Length of values (1) does not match
  length of index") and turns ``fillna(inplace=True)`` on a column into a silent no-op:
  pinned ``pandas<3``.
"""
from __future__ import annotations

import enum
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from recbole.evaluator.collector import Collector, DataStruct

_applied = False

# numpy 2.0 removed these aliases; RecBole 1.2.1 uses them (Config.compatibility_settings reads
# np.float_ and np.unicode_, the evaluator uses np.float and np.bool). An unpickled Config never
# runs compatibility_settings, so the old builtin aliases are set here too.
_NUMPY_ALIASES = {
    "float_": np.float64,
    "complex_": np.complex128,
    "unicode_": np.str_,
    "bool8": np.bool_,
    "float": float,
    "int": int,
    "bool": bool,
    "complex": complex,
    "object": object,
    "str": str,
    "long": int,
    "unicode": str,
}


def _restore_numpy_aliases() -> None:
    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)


def plain_config(config: Any) -> dict[str, Any]:
    """A RecBole ``Config`` (or mapping) as a dict of plain Python values.

    Plain values survive ``torch.load(weights_only=True)``; enums become their names and other
    objects (devices, classes) their ``str``.
    """
    items = config.final_config_dict.items() if hasattr(config, "final_config_dict") else dict(config).items()
    return {str(key): _plain_value(value) for key, value in items}


def _plain_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain_value(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _patch_trainer_checkpoint() -> None:
    """torch 2.6 made ``torch.load`` default to ``weights_only=True``; RecBole 1.2.1 pickles its
    whole Config into every checkpoint, so its own best-model reload (``Trainer.evaluate`` with
    ``load_best_model=True``) and ``resume_checkpoint`` fail. Checkpoints are saved with a plain
    config dict instead, which loads safely and still answers ``checkpoint["config"]["model"]``.
    """
    from recbole.trainer import trainer as trainer_module

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }
        from recbole_unisrec.fileio import save_checkpoint

        save_checkpoint(state, saved_model_file)
        if verbose:
            self.logger.info(f"Saving current: {saved_model_file}")

    trainer_module.Trainer._save_checkpoint = _save_checkpoint


def _fix_collector_for_data_metrics() -> None:
    """recbole 1.2.1's ``Collector.get_data_struct`` calls ``.cpu()`` on every collected resource,
    but ``data_collect`` stores the item count as an ``int`` and item counts as a ``Counter``: every
    metric that needs them (ItemCoverage, AveragePopularity, GiniIndex, ShannonEntropy,
    TailPercentage) fails with "'int' object has no attribute 'cpu'". Only tensors are moved."""
    import copy

    from recbole.evaluator import collector as collector_module

    def get_data_struct(self: Collector) -> DataStruct:
        resources = self.data_struct._data_dict
        for key, value in resources.items():
            if isinstance(value, torch.Tensor):
                resources[key] = value.cpu()
        returned_struct = copy.deepcopy(self.data_struct)
        for key in ["rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label"]:
            if key in self.data_struct:
                del self.data_struct[key]
        return returned_struct

    collector_module.Collector.get_data_struct = get_data_struct


def _silence_known_warnings() -> None:
    """Warnings that say nothing a user can act on.

    setuptools 80 warns on every ``import pkg_resources`` (done by ray 2.6), and the pin to
    setuptools<81 is deliberate. pandas 2.2 and torch 2.4+ raise FutureWarnings from inside
    recbole 1.2.1 (chained ``fillna(inplace=True)``, ``Series.agg(len)``,
    ``torch.cuda.amp.GradScaler``) that behave correctly on the pinned versions. torch's
    weights-only loader warns on pickle protocol 4, which RecBole's trainer writes: on a checkpoint
    of the original UniSRec code the safe load then fails cleanly and the file is imported instead.
    """
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message="Detected pickle protocol 4 in the checkpoint", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")


def _undo_global_anomaly_detection() -> None:
    """recbole 1.2.1's ``model/sequential_recommender/sine.py`` calls
    ``torch.autograd.set_detect_anomaly(True)`` at import, for the whole process, as soon as any
    RecBole sequential model is looked up. It checks every backward op for NaN: results are
    unchanged, training is about twice as slow. Import the package once here and switch it off."""
    import recbole.model.sequential_recommender  # noqa: F401

    torch.autograd.set_detect_anomaly(False)


def apply() -> None:
    """Apply every fix once; called from ``recbole_unisrec/__init__.py``."""
    global _applied
    if _applied:
        return
    _silence_known_warnings()
    _restore_numpy_aliases()
    _patch_trainer_checkpoint()
    _fix_collector_for_data_metrics()
    _undo_global_anomaly_detection()
    _applied = True
