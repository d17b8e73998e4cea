"""Baseline runs on UniSRec's splits: any RecBole sequential model and the text baselines.

Every baseline reads the same atomic files, split and evaluation as UniSRec (``props/data.yaml``)
and gets ``props/baseline.yaml`` (width 300, as the paper compares) before the user's own config
files and ``--key=value`` settings. ``S3RecText`` runs its two stages (self-supervised
pre-training, then fine-tuning from that checkpoint) in one call unless a stage is named.
"""
from __future__ import annotations

import time
from logging import getLogger
from typing import Any

from recbole.utils import init_logger, init_seed

from recbole_unisrec.config import PROPS, Config, parse_overrides
from recbole_unisrec.runner import run

BASELINE_PROPS = PROPS / "baseline.yaml"


def baseline_config_files(config_file_list: list[str] | None = None) -> list[str]:
    return [str(BASELINE_PROPS), *(config_file_list or [])]


def run_baseline(
    model: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    saved: bool = True,
    checkpoint_name: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """One baseline run (train, keep the best validation epoch, test); the result dict of
    :func:`recbole_unisrec.runner.run` (``checkpoint_name`` and ``resume`` as there; S3RecText's
    self-supervised stage is not resumed)."""
    files = baseline_config_files(config_file_list)
    config_dict = dict(config_dict or {})
    if model == "S3RecText" and not _names_stage(config_dict, overrides):
        return run_s3rec_text(dataset, files, config_dict, overrides, saved=saved)
    return run(model, dataset, files, config_dict, overrides, saved=saved, checkpoint_name=checkpoint_name, resume=resume)


def _names_stage(config_dict: dict[str, Any], overrides: list[str] | None) -> bool:
    given = {**config_dict, **parse_overrides(list(overrides or []))}
    return "train_stage" in given or bool(given.get("pre_model_path"))


def pretrain_s3rec_text(
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> tuple[str, float]:
    """S3RecText's self-supervised stage: ``pretrain_epochs`` epochs over one row per user.
    Returns the last checkpoint's path and the training wall time in seconds."""
    from recbole_unisrec.data.dataset import UniSRecDataset
    from recbole_unisrec.data.layout import require_dataset
    from recbole_unisrec.model.text_baselines import S3RecText, S3RecTextTrainer, UserSequenceDataLoader

    config = Config(model="S3RecText", dataset=dataset, config_file_list=config_file_list,
                    config_dict={**(config_dict or {}), "train_stage": "pretrain"}, overrides=overrides)
    require_dataset(config["data_path"], dataset)  # before the log starts, as in run()
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    data = UniSRecDataset(config)  # one domain: not the multi-domain corpus class
    train_dataset = data.build()[0]
    loader = UserSequenceDataLoader(config, train_dataset, shuffle=config["shuffle"])
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = S3RecText(config, train_dataset).to(config["device"])
    trainer = S3RecTextTrainer(config, net)
    logger.info(f"S3RecText pre-training: {loader.sample_size} user sequences, {config['pretrain_epochs']} epochs")
    started = time.perf_counter()
    trainer.fit(loader, saved=True, show_progress=config["show_progress"])
    return trainer.saved_model_file, time.perf_counter() - started


def run_s3rec_text(
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    saved: bool = True,
) -> dict[str, Any]:
    """Both S3-Rec stages; ``train_seconds`` counts both, ``pretrain_seconds`` the first."""
    config_dict = dict(config_dict or {})
    checkpoint, pretrain_seconds = pretrain_s3rec_text(dataset, config_file_list, config_dict, overrides)
    result = run("S3RecText", dataset, config_file_list,
                 {**config_dict, "train_stage": "finetune", "pre_model_path": checkpoint}, overrides, saved=saved)
    result["train_stage"] = "pretrain+finetune"
    result["pretrain_seconds"] = pretrain_seconds
    result["pretrained_checkpoint"] = checkpoint
    result["train_seconds"] += pretrain_seconds
    return result
