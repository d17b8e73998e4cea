"""A tiny two-domain pre-training corpus with real item texts, and builders for its RecBole objects.

Users of each domain walk a chain of items (the next item is the chain's next), so the
seq-item task is learnable and the loss falls within a few epochs. Text vectors are real
(the default MiniLM encoder, a few seconds once per folder, cached beside the data).
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

from recbole_unisrec.config import PROPS, Config
from recbole_unisrec.data.convert.common import SequenceData, write_dataset
from recbole_unisrec.data.corpus import build_corpus
from recbole_unisrec.data.dataset import encoder_spec_from_config
from recbole_unisrec.data.pretrain_loader import PretrainDataLoader
from recbole_unisrec.registry import create_dataset, get_model
from recbole_unisrec.text.cache import text_vectors

FRUIT = ["red apple", "green pear", "yellow banana", "purple grape", "orange mango", "sour lemon", "sweet cherry"]
TOOLS = ["steel hammer", "iron nails", "wood saw", "power drill", "tape measure", "glue gun"]
CORPUS = "FT"

TINY_PRETRAIN = {
    "hidden_size": 32, "inner_size": 32, "n_layers": 1, "n_heads": 2, "n_exps": 4,
    "train_batch_size": 24, "show_progress": False, "seed": 11, "learning_rate": 0.005,
    "pretrain_epochs": 2, "save_step": 1, "checkpoint_steps": 0, "MAX_ITEM_LIST_LENGTH": 8,
    "use_gpu": False,  # unit tests run on CPU on any machine
    "transfer_eval": "",  # tests that watch transfer name the fixture's own domains
}
"""Small and fast; dropout stays on (the paper's 0.5) unless a test turns it off."""

NO_RANDOMNESS = {"hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "adaptor_dropout_prob": 0.0}


def _sequences(prefix: str, items: list[str], users: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    sequences = []
    for user in range(users):
        start, length = rng.randrange(len(items)), rng.randrange(3, 11)
        sequences.append((f"{prefix}u{user}", [f"{prefix}{(start + step) % len(items)}" for step in range(length)]))
    return sequences


def write_domains(root: Path, users: int = 30) -> Path:
    """``root/Fruit``, ``root/Tools`` and their corpus ``root/FT``."""
    rng = random.Random(5)
    write_dataset(SequenceData("Fruit", _sequences("f", FRUIT, users, rng), {f"f{i}": t for i, t in enumerate(FRUIT)}), root)
    write_dataset(SequenceData("Tools", _sequences("t", TOOLS, users, rng), {f"t{i}": t for i, t in enumerate(TOOLS)}), root)
    build_corpus(["Fruit", "Tools"], root, root)
    return root


def encode_texts(root: Path, name: str = CORPUS) -> Path:
    """Encode (and cache) the plain and word-dropped text vectors, so that tests only read them."""
    config = make_config(root, name)
    for ratio in (0.0, config["word_drop_ratio"]):
        text_vectors(root, name, encoder_spec_from_config(config), word_drop_ratio=ratio, seed=config["seed"], show_progress=False)
    return root


_ENCODED: list[Path] = []


def encoded_corpus(tmp_path_factory, name: str) -> Path:
    """A fresh copy of the encoded fixture corpus (written and encoded once per test session)."""
    if not _ENCODED or not _ENCODED[0].is_dir():
        _ENCODED[:] = [encode_texts(write_domains(tmp_path_factory.mktemp("pretrain_encoded")))]
    target = tmp_path_factory.mktemp(name)
    shutil.copytree(_ENCODED[0], target, dirs_exist_ok=True)
    return target


def make_config(root: Path, name: str = CORPUS, **overrides) -> Config:
    return Config(model="UniSRec", dataset=name, config_file_list=[str(PROPS / "pretrain.yaml")],
                  config_dict={**TINY_PRETRAIN, "data_path": str(root), "checkpoint_dir": str(root / "saved"), **overrides})


def build(root: Path, name: str = CORPUS, **overrides):
    """(config, dataset, loader, model) as ``quick_start.pretrain`` builds them."""
    config = make_config(root, name, **overrides)
    dataset = create_dataset(config)
    train = dataset.build()[0]
    loader = PretrainDataLoader(config, train, shuffle=config["shuffle"])
    model = get_model("UniSRec")(config, train)
    return config, dataset, loader, model


def ddp_worker(rank: int, world: int, root: str, init_file: str, out_dir: str, overrides: dict) -> None:
    """One rank of a gloo DistributedDataParallel pre-training run (for ``torch.multiprocessing.spawn``):
    writes its final parameters and epoch losses to ``out_dir/rank<r>.pt``."""
    import torch
    import torch.distributed as dist
    from recbole.utils import init_seed

    from recbole_unisrec.trainer import UniSRecPretrainTrainer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        config, dataset, loader, _ = build(Path(root), checkpoint_dir=str(Path(out_dir) / "saved"), **overrides)
        assert not config["single_spec"] and config["world_size"] == world
        init_seed(config["seed"], True)  # as a single process would (DDP broadcasts rank 0's anyway)
        model = get_model("UniSRec")(config, loader._dataset)
        model.moe_adaptor.noisy_gating = False
        model.moe_adaptor.w_noise.requires_grad_(False)  # unused without gate noise
        trainer = UniSRecPretrainTrainer(config, model, domains=dataset.domain_names)
        losses = trainer.pretrain(loader)
        torch.save({"state_dict": model.state_dict(), "losses": losses, "steps": trainer.cur_step},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
