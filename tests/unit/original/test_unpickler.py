"""Original checkpoints are read as data: only their known globals resolve, and nothing else runs."""
from __future__ import annotations

import collections
import os

import pytest
import torch
from original_fixtures import FINETUNED, PRETRAINED
from recbole.config.configurator import Config
from recbole.utils.enum_type import ModelType

from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.original.unpickler import ClassName, PickledConfig, read_original


class EvalPayload:
    """Unpickling this evaluates code that writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return eval, (f"open({self.marker!r}, 'w').write('ran')",)


class SystemPayload(EvalPayload):
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def original_like(path, payload) -> None:
    """A checkpoint shaped like the original code's (a RecBole Config, a state_dict) carrying ``payload``."""
    config = Config.__new__(Config)
    config.__dict__.update(final_config_dict={"model": "UniSRec", "MODEL_TYPE": ModelType.SEQUENTIAL}, hook=payload)
    torch.save({"config": config, "state_dict": collections.OrderedDict(w=torch.zeros(2))}, path)


@pytest.mark.parametrize("payload, refused", [(EvalPayload, "builtins.eval"), (SystemPayload, f"{os.system.__module__}.system")])
def test_payload_in_an_original_checkpoint_is_refused_and_never_runs(tmp_path, payload, refused) -> None:
    marker, evil = tmp_path / "marker", tmp_path / "evil.pth"
    original_like(evil, payload(marker))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(evil)
    message = str(caught.value)
    assert message == (f"{evil}: refused, the file names {refused}, which no checkpoint of the original UniSRec code "
                       "holds (nothing was run)")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=f"refused, the file names {refused}"):
        read_original(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is real: unsafe loading runs it
    assert marker.exists()


def test_other_pickles_keep_the_one_line_refusal(tmp_path) -> None:
    marker, evil = tmp_path / "marker", tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "config": SystemPayload(marker)}, evil)
    with pytest.raises(CheckpointError, match="evil.pth: refused, the file holds Python objects that would run code"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_state_of_other_objects_cannot_be_set(tmp_path) -> None:
    evil = tmp_path / "evil.pth"
    config = Config.__new__(Config)
    config.__dict__.update(final_config_dict={"model": "UniSRec"})
    state_dict = collections.OrderedDict(w=torch.zeros(2))
    setattr(state_dict, "__class__trap", 1)  # pickled as a BUILD that sets a dunder attribute
    torch.save({"config": config, "state_dict": state_dict}, evil)
    with pytest.raises(CheckpointError, match="setting the state of a OrderedDict is not allowed"):
        read_original(evil)


@pytest.mark.parametrize("name", [PRETRAINED, FINETUNED])
def test_original_checkpoints_read_as_plain_data(official, name) -> None:
    content = read_original(official / name)
    assert isinstance(content["config"], PickledConfig)
    attributes = content["config"].attributes
    final = attributes["final_config_dict"]
    assert (final["model"], final["MODEL_TYPE"], final["MODEL_INPUT_TYPE"], final["eval_type"], final["device"]) == \
        ("UniSRec", "SEQUENTIAL", "POINTWISE", "RANKING", "cpu")
    assert attributes["model_class"] == ClassName("unisrec.UniSRec")
    assert attributes["yaml_loader"] == ClassName("yaml.loader.FullLoader")
    assert all(isinstance(value, torch.Tensor) for value in content["state_dict"].values())
    if name == FINETUNED:
        assert content["best_valid_score"] == pytest.approx(0.0075)


def test_tensors_equal_torchs_own_safe_loader(official) -> None:
    """The pre-trained file (protocol 2) also loads with torch's weights-only loader once its
    globals are allowed: both readers give the same tensors."""
    import yaml
    from recbole.utils.enum_type import EvaluatorType, InputType

    class UniSRec:
        pass

    allowed = [Config, ModelType, InputType, EvaluatorType, yaml.loader.FullLoader, (UniSRec, "unisrec.UniSRec")]
    with torch.serialization.safe_globals(allowed):
        expected = torch.load(official / PRETRAINED, weights_only=True)["state_dict"]
    state = read_original(official / PRETRAINED)["state_dict"]
    assert list(state) == list(expected)
    assert all(torch.equal(state[name], expected[name]) for name in expected)
