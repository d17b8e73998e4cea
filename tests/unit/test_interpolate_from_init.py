"""bench/interpolate_from_init.py: the weights on the line from the untrained network to a checkpoint."""
from __future__ import annotations

import pytest
import torch
from bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def bench():
    return load_bench_script("interpolate_from_init")


def test_ends_and_midpoint_of_the_line(bench) -> None:
    init = {"w": torch.tensor([0.0, 2.0]), "steps": torch.tensor([3]), "only_here": torch.tensor([1.0])}
    trained = {"w": torch.tensor([4.0, -2.0]), "steps": torch.tensor([9]), "only_there": torch.tensor([5.0])}
    assert torch.equal(bench.interpolated(init, trained, 0.0)["w"], init["w"])
    assert torch.equal(bench.interpolated(init, trained, 1.0)["w"], trained["w"])
    half = bench.interpolated(init, trained, 0.5)
    assert half["w"].tolist() == [2.0, 0.0]
    assert half["steps"].tolist() == [3]          # integer buffers are not interpolated
    assert half["only_here"].tolist() == [1.0]    # a tensor the checkpoint lacks stays as initialised
    assert set(half) == {"w", "steps", "only_here"}


def test_a_shape_that_differs_keeps_the_initial_tensor(bench) -> None:
    init = {"table": torch.zeros(3, 2)}
    trained = {"table": torch.ones(5, 2)}
    assert torch.equal(bench.interpolated(init, trained, 0.5)["table"], torch.zeros(3, 2))
