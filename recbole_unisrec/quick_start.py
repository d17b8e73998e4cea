"""The functions the run scripts call: one RecBole run (train, validate, test) of any model."""
from __future__ import annotations

import time
from logging import getLogger
from typing import Any

from recbole.utils import init_logger, init_seed

from recbole_unisrec.checkpoint import count_parameters, freeze_for_finetuning, load_pretrained
from recbole_unisrec.config import Config
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.registry import create_dataset, get_model, get_trainer


def run(
    model: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    pretrained: str | None = None,
    freeze: bool = True,
    saved: bool = True,
) -> dict[str, Any]:
    """Train ``model`` on ``dataset``, keep the best validation epoch, evaluate it on test.

    ``pretrained`` loads a checkpoint's transferable weights first; with ``freeze`` only the
    adaptor (and an ID embedding) then trains.
    """
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict, overrides=overrides)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)

    data = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if pretrained:
        load_pretrained(net, pretrained, text_encoder=config["text_encoder"])
        if freeze:
            freeze_for_finetuning(net)
    trainable, total = count_parameters(net)
    logger.info(net)
    logger.info(f"Trainable parameters: {trainable:,} of {total:,}")

    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    started = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=saved, show_progress=config["show_progress"])
    train_seconds = time.perf_counter() - started
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    logger.info(f"best valid: {dict(best_valid_result or {})}")
    logger.info(f"test result: {dict(test_result)}")
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "train_stage": config["train_stage"],
        "seed": config["seed"],
        "best_valid_score": float(best_valid_score),
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": {k: float(v) for k, v in (best_valid_result or {}).items()},
        "test_result": {k: float(v) for k, v in test_result.items()},
        "train_seconds": train_seconds,
        "trainable_parameters": trainable,
        "checkpoint": trainer.saved_model_file if saved else None,
    }


def objective_function(config_dict: dict[str, Any] | None = None, config_file_list: list[str] | None = None, saved: bool = True) -> dict[str, Any]:
    """RecBole ``HyperTuning`` objective: ``model`` and ``dataset`` come from the config."""
    config_dict = dict(config_dict or {})
    return run(config_dict.pop("model", None), config_dict.pop("dataset", None), config_file_list, config_dict, saved=saved)
