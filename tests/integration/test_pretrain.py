"""Pre-training end to end on a tiny two-domain corpus: the loss falls, resuming changes nothing,
bad input is a one-line error."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "pretrain"))
from pretrain_fixtures import FRUIT, TINY_PRETRAIN, TOOLS, encoded_corpus  # noqa: E402

import run_pretrain  # noqa: E402
from recbole_unisrec.checkpoint import CheckpointError  # noqa: E402
from recbole_unisrec.data.corpus import build_corpus  # noqa: E402
from recbole_unisrec.trainer import UniSRecPretrainTrainer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return encoded_corpus(tmp_path_factory, "pretrain_run")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """RecBole writes log/ and log_tensorboard/ under the working directory; one thread is
    much faster for these tiny tensors on a busy machine."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli(root: Path, saved: Path, *args: str, **settings) -> list[str]:
    values = {**TINY_PRETRAIN, "data_path": str(root), "checkpoint_dir": str(saved), **settings}
    return [*args, *(f"--{key}={value}" for key, value in values.items())]


def final_parameters(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def assert_same_parameters(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@torch.no_grad()
def next_item_ranks(root: Path, checkpoint: Path, domain: str, prefix: str, items: list[str]) -> list[int]:
    """The rank (1 = first) of the chain's next item among all of ``domain``'s items, for every
    history of 1, 2 and 3 consecutive chain items, scored by the checkpoint's text-only network."""
    from recbole.data.interaction import Interaction

    from recbole_unisrec.config import Config
    from recbole_unisrec.data.preparation import data_preparation
    from recbole_unisrec.registry import create_dataset, get_model

    sizes = {key: TINY_PRETRAIN[key] for key in ("hidden_size", "inner_size", "n_layers", "n_heads", "n_exps",
                                                 "MAX_ITEM_LIST_LENGTH", "seed", "use_gpu")}
    config = Config(model="UniSRec", dataset=domain,
                    config_dict={**sizes, "data_path": str(root), "train_stage": "inductive_ft"})
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    model = get_model("UniSRec")(config, train._dataset)
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["state_dict"])
    model.eval()
    index = dict(line.split("\t") for line in (root / domain / f"{domain}.item2index").read_text().splitlines())
    token = {raw: i for i, raw in enumerate(dataset.field2id_token["item_id"])}
    internal = [token[index[f"{prefix}{i}"]] for i in range(len(items))]
    ranks = []
    for length in (1, 2, 3):
        for last in range(len(items)):
            history = [internal[(last - length + 1 + j) % len(items)] for j in range(length)]
            scores = model.full_sort_predict(Interaction({"item_id_list": torch.tensor([history]),
                                                          "item_length": torch.tensor([length])}))[0]
            scores[0] = -float("inf")
            ranks.append(1 + int((scores > scores[internal[(last + 1) % len(items)]]).sum()))
    return ranks


def test_pretraining_lowers_the_loss(corpus_root, tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        result = run_pretrain.main(cli(corpus_root, tmp_path / "saved", "-d", "FT", pretrain_epochs=6, save_step=3))
    losses = [epoch["loss"] for epoch in result["epoch_losses"]]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0]
    # what the loss is for: zero-shot, text only, on each domain, after every history of one to
    # three items the chain's next item ranks first (a freshly initialised model ranks it 2nd to 7th)
    for domain, prefix, items in (("Fruit", "f", FRUIT), ("Tools", "t", TOOLS)):
        assert next_item_ranks(corpus_root, Path(result["checkpoint"]), domain, prefix, items) == [1] * (3 * len(items))
    assert result["epoch_losses"][-1]["seq_item"] < result["epoch_losses"][0]["seq_item"]
    assert result["domains"] == ["Fruit", "Tools"]
    names = sorted(path.name for path in (tmp_path / "saved").iterdir())
    assert names == ["UniSRec-FT-3.pth", "UniSRec-FT-6.pth", "UniSRec-FT-last.pth"]
    assert result["checkpoint"].endswith("UniSRec-FT-6.pth")
    # (RecBole's log file stays empty under pytest, whose handlers own the root logger)
    assert caplog.text.count("pre-training [time") == 6 and "train loss" in caplog.text
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (board,) = list((tmp_path / "log_tensorboard").iterdir())
    events = EventAccumulator(str(board))
    events.Reload()
    assert [event.value for event in events.Scalars("Loss/Pretrain")] == pytest.approx(losses)


def test_resume_at_an_epoch_boundary_gives_equal_losses(corpus_root, tmp_path) -> None:
    whole = run_pretrain.main(cli(corpus_root, tmp_path / "whole", "-d", "FT", pretrain_epochs=3))
    first = run_pretrain.main(cli(corpus_root, tmp_path / "parts", "-d", "FT", pretrain_epochs=1))
    # the data set and the settings come from the checkpoint; only the epoch count changes
    rest = run_pretrain.main(["--resume", first["last_checkpoint"], "--pretrain_epochs=3"])
    assert rest["epoch_losses"] == whole["epoch_losses"]
    assert_same_parameters(final_parameters(Path(rest["checkpoint"])), final_parameters(Path(whole["checkpoint"])))


class Crash(Exception):
    pass


def test_resume_mid_epoch_gives_equal_losses_and_parameters(corpus_root, tmp_path, monkeypatch) -> None:
    """A crash one step after a mid-epoch checkpoint loses that step; resuming redoes it exactly."""
    settings = {"pretrain_epochs": 3, "checkpoint_steps": 2}
    whole = run_pretrain.main(cli(corpus_root, tmp_path / "whole", "-d", "FT", **settings))

    original = UniSRecPretrainTrainer._train_epoch

    def crash_in_epoch_1(self, train_data, epoch_idx, **kwargs):
        if epoch_idx != 1:
            return original(self, train_data, epoch_idx, **kwargs)
        real_step = self.optimizer.step
        calls = {"n": 0}

        def step(*args, **step_kwargs):
            calls["n"] += 1
            if calls["n"] == 4:  # after the checkpoint at batch 2, during batch 3
                raise Crash()
            return real_step(*args, **step_kwargs)

        self.optimizer.step = step
        return original(self, train_data, epoch_idx, **kwargs)

    monkeypatch.setattr(UniSRecPretrainTrainer, "_train_epoch", crash_in_epoch_1)
    with pytest.raises(Crash):
        run_pretrain.main(cli(corpus_root, tmp_path / "parts", "-d", "FT", **settings))
    monkeypatch.setattr(UniSRecPretrainTrainer, "_train_epoch", original)
    last = tmp_path / "parts" / "UniSRec-FT-last.pth"
    checkpoint = torch.load(last, weights_only=True)
    assert (checkpoint["resume_epoch"], checkpoint["resume_batch"]) == (1, 2)
    resumed = run_pretrain.main(["--resume", str(last)])
    assert resumed["epoch_losses"] == whole["epoch_losses"]
    assert_same_parameters(final_parameters(Path(resumed["checkpoint"])), final_parameters(Path(whole["checkpoint"])))


def test_one_domain_corpus_works_and_says_so(corpus_root, tmp_path, caplog) -> None:
    build_corpus(["Fruit"], corpus_root, tmp_path / "data")
    for suffix in ("item2index", "text"):  # the domain folder is not beside it: the corpus encodes its own texts
        assert (tmp_path / "data" / "F" / f"F.{suffix}").is_file()
    with caplog.at_level(logging.WARNING):
        result = run_pretrain.main(cli(tmp_path / "data", tmp_path / "saved", "-d", "F", pretrain_epochs=1))
    assert result["domains"] == ["Fruit"]
    assert "single domain" in caplog.text


def _one_line_error(args: list[str]) -> str:
    """Run the CLI in a subprocess; it must fail with exit code 2 and exactly one line on stderr."""
    process = subprocess.run([sys.executable, str(REPO / "run_pretrain.py"), *args], capture_output=True, text=True,
                             timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    lines = [line for line in process.stderr.splitlines() if line.strip() and "encoding texts" not in line]
    assert process.returncode == 2, process.stderr
    assert len(lines) == 1 and lines[0].startswith("run_pretrain.py: error: "), process.stderr
    return lines[0]


def test_corrupt_resume_checkpoint_is_a_one_line_error(tmp_path) -> None:
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"PK\x03\x04 truncated zip")
    assert "broken.pth" in _one_line_error(["--resume", str(broken)])


def test_domain_without_text_vectors_is_an_error(corpus_root, tmp_path) -> None:
    import shutil

    root = tmp_path / "data"
    for name in ("Fruit", "Tools"):
        shutil.copytree(corpus_root / name, root / name)
    (root / "Tools" / "Tools.text").unlink()
    with pytest.raises(ValueError, match="Tools.text") as error:
        build_corpus(["Fruit", "Tools"], root, root)
    assert "\n" not in str(error.value)
    # a corpus built earlier, whose domain lost its texts (and has no cached vectors)
    build_corpus(["Fruit"], corpus_root, root, name="FT2")
    (root / "FT2" / "FT2.domains").write_text("0\tFruit\t7\n1\tTools\t6\n")
    (root / "FT2" / "FT2.item2index").unlink()
    with pytest.raises(ValueError) as error:
        run_pretrain.main(cli(root, tmp_path / "saved", "-d", "FT2", pretrain_epochs=1))
    assert "Tools" in str(error.value) and "\n" not in str(error.value)


def test_mismatched_vector_sizes_are_an_error(corpus_root, tmp_path) -> None:
    import shutil

    root = tmp_path / "data"
    for name in ("Fruit", "Tools", "FT"):
        shutil.copytree(corpus_root / name, root / name)
    for cached in root.glob("FT/*.npy"):
        cached.unlink()  # the corpus table is rebuilt from the domains' tables
    for cached in root.glob("Tools/Tools.*.npy"):
        table = np.load(cached)
        np.save(cached, np.zeros((table.shape[0], 16), dtype=np.float32))  # another encoder's width
    with pytest.raises(ValueError, match="width") as error:
        run_pretrain.main(cli(root, tmp_path / "saved", "-d", "FT", pretrain_epochs=1))
    assert "\n" not in str(error.value)


def test_resume_of_another_corpus_is_refused(corpus_root, tmp_path) -> None:
    first = run_pretrain.main(cli(corpus_root, tmp_path / "saved", "-d", "FT", pretrain_epochs=1))
    build_corpus(["Fruit"], corpus_root, corpus_root, name="OnlyFruit")
    with pytest.raises(CheckpointError, match="pre-trained on Fruit, Tools"):
        run_pretrain.main(["--resume", first["last_checkpoint"], "-d", "OnlyFruit"])


def test_without_a_data_set_the_default_domains_corpus_is_built(corpus_root, tmp_path, monkeypatch) -> None:
    import shutil

    from recbole_unisrec import quick_start

    root = tmp_path / "data"
    for name in ("Fruit", "Tools"):
        shutil.copytree(corpus_root / name, root / name)
    monkeypatch.setattr(quick_start, "DEFAULT_PRETRAIN_DOMAINS", ["Tools", "Fruit"])
    result = run_pretrain.main(cli(root, tmp_path / "saved", pretrain_epochs=1))
    assert result["dataset"] == "TF" and result["domains"] == ["Tools", "Fruit"]
    assert (root / "TF" / "TF.domains").read_text() == "0\tTools\t6\n1\tFruit\t7\n"
    again = run_pretrain.main(cli(root, tmp_path / "saved2", "--domains", "Tools,Fruit", pretrain_epochs=1))
    assert again["epoch_losses"] == result["epoch_losses"]  # the existing corpus is reused
    with pytest.raises(ValueError, match="holds Tools, Fruit"):
        (root / "FT").mkdir()
        (root / "FT" / "FT.domains").write_text("0\tTools\t6\n1\tFruit\t7\n")
        run_pretrain.main(cli(root, tmp_path / "saved3", "--domains", "Fruit,Tools", pretrain_epochs=1))
