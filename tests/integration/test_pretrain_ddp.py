"""Two gloo processes on CPU train as one process over their union batch (DistributedDataParallel)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from recbole.utils import init_seed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "pretrain"))
from pretrain_fixtures import NO_RANDOMNESS, build, ddp_worker, encoded_corpus  # noqa: E402

SETTINGS = {**NO_RANDOMNESS, "pretrain_epochs": 2, "train_batch_size": 16, "checkpoint_steps": 3,
            "learner": "sgd", "learning_rate": 0.5}
"""SGD, so that parameters compare gradients: Adam divides by the gradient's own scale, and
turns float noise in gradients that are exactly zero in exact arithmetic (the attention's key
bias: softmax ignores a shift shared by all keys) into steps of size ``learning_rate``."""


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return encoded_corpus(tmp_path_factory, "ddp")


def _initial_parameters(root: Path) -> dict[str, torch.Tensor]:
    from recbole_unisrec.registry import get_model

    config, _, loader, _ = build(root, **SETTINGS)
    init_seed(config["seed"], True)
    return get_model("UniSRec")(config, loader._dataset).state_dict()


def _single_process(root: Path) -> tuple[dict[str, torch.Tensor], list[float], int]:
    """One process, the same optimizer, over the union of the two ranks' batches at every step."""
    config, _, loader, _ = build(root, **SETTINGS)
    init_seed(config["seed"], True)
    from recbole_unisrec.registry import get_model

    model = get_model("UniSRec")(config, loader._dataset)
    model.moe_adaptor.noisy_gating = False
    model.moe_adaptor.w_noise.requires_grad_(False)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config["learning_rate"])
    losses, steps = [], 0
    for epoch in range(config["pretrain_epochs"]):
        loader._prepare_draws(epoch)
        batches = loader.global_batches(epoch)
        epoch_losses = []
        for k in range(0, len(batches) // 2 * 2, 2):
            batch = loader.collate_fn(np.concatenate([batches[k], batches[k + 1]]))
            optimizer.zero_grad()
            loss = model.pretrain_loss(batch)
            loss.backward()
            optimizer.step()
            epoch_losses.append(float(loss.detach()))
            steps += 1
        losses.append(float(np.mean(epoch_losses)))
    return model.state_dict(), losses, steps


def test_two_gloo_ranks_equal_one_process_over_the_global_batch(corpus_root, tmp_path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mp.spawn(ddp_worker, args=(2, str(corpus_root), str(tmp_path / "rendezvous"), str(tmp_path), SETTINGS),
                 nprocs=2, join=True)
        reference, reference_losses, reference_steps = _single_process(corpus_root)
    finally:
        torch.set_num_threads(threads)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    initial = _initial_parameters(corpus_root)
    moved = max(float((reference[name] - initial[name]).abs().max()) for name in reference)
    assert moved > 1e-2, "the parameters should move far more than the tolerance"
    assert ranks[0]["steps"] == ranks[1]["steps"] == reference_steps > 4
    for name, value in ranks[0]["state_dict"].items():
        assert torch.equal(value, ranks[1]["state_dict"][name]), f"{name} differs between the ranks"
        torch.testing.assert_close(value, reference[name], rtol=1e-4, atol=1e-6, msg=f"{name} differs from one process")
    for ddp_epoch, single in zip(ranks[0]["losses"], reference_losses):
        assert ddp_epoch["loss"] == pytest.approx(single, rel=1e-4)
    # only rank 0 wrote checkpoints, and they load safely
    saved = sorted(path.name for path in (tmp_path / "saved").iterdir())
    assert saved == ["UniSRec-FT-1.pth", "UniSRec-FT-2.pth", "UniSRec-FT-last.pth"]
    checkpoint = torch.load(tmp_path / "saved" / "UniSRec-FT-last.pth", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["rng"]["torch"]) == 2
    assert not list(Path.cwd().glob("rank*.pt"))
