"""Read a checkpoint of the original UniSRec code as data: no code named by the file ever runs.

The original ``pretrain.py`` and ``finetune.py`` save RecBole checkpoints with plain
``torch.save``. Besides tensors they pickle RecBole's ``Config``, which holds the model class
(``unisrec.UniSRec``), the YAML loader class, a ``torch.device`` and three RecBole enums, and,
in a fine-tuned file, a numpy float. A normal unpickle imports and calls whatever the file
names. :func:`read_original` resolves each name against :data:`ALLOWED` instead; every allowed
name is rebuilt as plain data (a Config becomes the dict of its attributes, an enum its member
name, a class its dotted name, a device its string), and any other name stops the read at once,
before anything is called. ``BUILD`` (setting an object's state) is allowed only on those
stand-ins and on the ``OrderedDict`` of a ``state_dict``.
"""
from __future__ import annotations

import _compat_pickle
import collections
import os
import pickle
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from recbole.utils import enum_type

from recbole_unisrec.fileio import CheckpointError


class RefusedGlobal(pickle.UnpicklingError):
    """The file names a Python object outside :data:`ALLOWED`."""

    def __init__(self, dotted_name: str):
        super().__init__(dotted_name)
        self.dotted_name = dotted_name


@dataclass(frozen=True)
class ClassName:
    """A class the file refers to (the original's model class, YAML's loader), kept as its dotted name."""

    dotted_name: str

    def __str__(self) -> str:
        return self.dotted_name


class PickledConfig:
    """RecBole's ``Config`` as the dict of its attributes (``final_config_dict`` and the rest)."""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"RecBole Config state is a {type(state).__name__}, not a dict")
        self.attributes = dict(state)


_NUMERIC_DTYPES = {"b1", "f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"}


class NumpyDType:
    """A numeric numpy dtype, as pickled before a numpy scalar: ``dtype(code, align, copy)`` then
    its state (byte order second)."""

    def __init__(self, code: str, align: bool = False, copy: bool = False):
        if code not in _NUMERIC_DTYPES:
            raise pickle.UnpicklingError(f"numpy dtype {code!r} is not a plain number type")
        self.code = code
        self.byteorder = "|"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError("unexpected numpy dtype state")
        self.byteorder = state[1]

    def as_numpy(self) -> np.dtype:
        dtype = np.dtype(self.code)
        return dtype if self.byteorder in ("|", "=") else dtype.newbyteorder(self.byteorder)


def _numpy_scalar(dtype: NumpyDType, data: bytes) -> int | float | bool:
    if not isinstance(dtype, NumpyDType) or not isinstance(data, bytes):
        raise pickle.UnpicklingError("numpy scalar without a plain dtype and bytes")
    return np.frombuffer(data, dtype=dtype.as_numpy(), count=1)[0].item()


def _device(*args: Any) -> str:
    return str(torch.device(*args))


def _enum_name(enum_class: type) -> Callable[[Any], str]:
    def member_name(value: Any) -> str:
        return enum_class(value).name

    return member_name


ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch", "device"): _device,
    ("recbole.config.configurator", "Config"): PickledConfig,
    ("recbole.utils.enum_type", "ModelType"): _enum_name(enum_type.ModelType),
    ("recbole.utils.enum_type", "InputType"): _enum_name(enum_type.InputType),
    ("recbole.utils.enum_type", "EvaluatorType"): _enum_name(enum_type.EvaluatorType),
    ("unisrec", "UniSRec"): ClassName("unisrec.UniSRec"),
    ("yaml.loader", "FullLoader"): ClassName("yaml.loader.FullLoader"),
    ("numpy", "dtype"): NumpyDType,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,   # written by numpy < 2
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # written by numpy >= 2
}
"""Every global an original checkpoint names, and what stands in for it. Tensor storages
(``torch.FloatStorage`` ...) are resolved by ``torch.load`` itself and never reach here."""


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its ``BUILD`` can be replaced) with :data:`ALLOWED` as the only globals."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:  # Python 2 names, as pickle itself maps them
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, (PickledConfig, NumpyDType)):
            target.__setstate__(state)
        elif type(target) is collections.OrderedDict and isinstance(state, dict) \
                and all(isinstance(key, str) and not key.startswith("__") for key in state):
            for key, value in state.items():  # a state_dict's _metadata
                setattr(target, key, value)
        else:
            raise pickle.UnpicklingError(f"setting the state of a {type(target).__name__} is not allowed")

    dispatch[pickle.BUILD[0]] = _load_build


def _load(file, **kwargs) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


restricted_pickle = types.SimpleNamespace(__name__="recbole_unisrec.original.unpickler",
                                          Unpickler=_RestrictedUnpickler, load=_load)
"""What ``torch.load(pickle_module=...)`` needs of a pickle module, restricted."""


def read_original(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The top-level dict of an original checkpoint, its ``config`` a :class:`PickledConfig`.

    A global outside :data:`ALLOWED` is a one-line :class:`CheckpointError` naming it; nothing
    the file names is called."""
    try:
        content = torch.load(path, map_location=map_location, pickle_module=restricted_pickle, weights_only=False)
    except RefusedGlobal as refused:
        raise CheckpointError(
            f"{path}: refused, the file names {refused.dotted_name}, which no checkpoint of the original "
            "UniSRec code holds (nothing was run)") from None
    except Exception as error:  # torch and pickle raise many types for bytes that are not a checkpoint
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise CheckpointError(f"{path}: not a readable checkpoint of the original UniSRec code ({reason})") from None
    if not isinstance(content, dict) or not isinstance(content.get("config"), PickledConfig) \
            or not isinstance(content.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a checkpoint of the original UniSRec code (no RecBole config and state_dict)")
    return content
