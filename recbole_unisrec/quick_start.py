"""The functions the run scripts call: one RecBole run (train, validate, test) of any model."""
from __future__ import annotations

import os
import time
from logging import getLogger
from typing import Any

import torch
import yaml
from recbole.utils import get_local_time, init_logger, init_seed

from recbole_unisrec.checkpoint import count_parameters, freeze_for_finetuning, load_pretrained
from recbole_unisrec.config import PROPS, Config, parse_overrides
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
    adaptor, the input LayerNorm (and an ID embedding) then train, as in the original code.
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
        load_pretrained(net, pretrained, text_encoder=config["text_encoder"], text_pooling=config["text_pooling"])
        if freeze:
            freeze_for_finetuning(net)
    trainable, total = count_parameters(net)
    logger.info(net)
    logger.info(f"Trainable parameters: {trainable:,} of {total:,}")

    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    trainer.saved_model_file = unique_checkpoint_path(config)
    started = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=saved, show_progress=config["show_progress"])
    train_seconds = time.perf_counter() - started
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    if saved and config["local_rank"] == 0:
        from recbole_unisrec.serving import add_serving_info

        add_serving_info(trainer.saved_model_file, data, missing_ok=True)  # item ids and encoder, for serving
    logger.info(f"best valid: {dict(best_valid_result or {})}")
    logger.info(f"test result: {dict(test_result)}")
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "train_stage": config["train_stage"],
        "seed": config["seed"],
        "best_valid_score": float(best_valid_score),
        "valid_score_bigger": config["valid_metric_bigger"],
        "valid_metric": config["valid_metric"].lower(),
        "best_valid_result": {k: float(v) for k, v in (best_valid_result or {}).items()},
        "test_result": {k: float(v) for k, v in test_result.items()},
        "train_seconds": train_seconds,
        "trainable_parameters": trainable,
        "checkpoint": trainer.saved_model_file if saved else None,
        "device": device_name(config["device"]),
    }


def device_name(device: torch.device) -> str:
    """``"cpu"`` or the card's name (``"NVIDIA H200"``), as the results tables record it."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def unique_checkpoint_path(config) -> str:
    """RecBole names checkpoints ``<model>-<time to the second>.pth``: two runs started in the same
    second overwrite each other's best model. Add the data set, stage and process id."""
    stage = f"-{config['train_stage']}" if config["train_stage"] else ""
    name = f"{config['model']}-{config['dataset']}{stage}-{get_local_time()}-{os.getpid()}.pth"
    return os.path.join(config["checkpoint_dir"], name)


def objective_function(
    config_dict: dict[str, Any] | None = None,
    config_file_list: list[str] | None = None,
    saved: bool = True,
    overrides: list[str] | None = None,
    pretrained: str | None = None,
    freeze: bool = True,
) -> dict[str, Any]:
    """RecBole ``HyperTuning`` objective: one run with the trial's settings in ``config_dict``.

    ``model`` and ``dataset`` come from ``config_dict``, ``overrides`` or the config files (as
    RecBole's ``fixed_config_file_list``). UniSRec gets ``props/finetune.yaml`` as in
    run_finetune.py (and may start from ``pretrained``); any other model is a baseline with
    ``props/baseline.yaml`` (:func:`recbole_unisrec.baselines.run_baseline`).
    """
    from recbole_unisrec.baselines import run_baseline  # it imports this module

    config_dict = dict(config_dict or {})
    files = list(config_file_list or [])
    model = config_dict.pop("model", None) or named_model(files, overrides)
    dataset = config_dict.pop("dataset", None)
    if model == "UniSRec":
        return run(model, dataset, [str(PROPS / "finetune.yaml"), *files], config_dict, overrides,
                   pretrained=pretrained, freeze=freeze, saved=saved)
    if pretrained:
        raise ValueError("only UniSRec fine-tunes from a pre-trained checkpoint here")
    return run_baseline(model, dataset, files, config_dict, overrides, saved=saved)


def named_model(config_file_list: list[str], overrides: list[str] | None = None) -> str | None:
    """The ``model`` that ``--model=`` or the last config file naming one sets (None if none does)."""
    named = parse_overrides(list(overrides or [])).get("model")
    for path in reversed(config_file_list):
        if named:
            break
        with open(path, encoding="utf-8") as handle:
            named = (yaml.safe_load(handle) or {}).get("model")
    return named


# --------------------------------------------------------------------------------------------
# Multi-domain pre-training (run_pretrain.py)
# --------------------------------------------------------------------------------------------

DEFAULT_PRETRAIN_DOMAINS = ["Beauty", "Toys", "Games", "Yelp", "MicroLens", "Steam"]
"""The shipped pre-training domains (dataset/README.md); none is a downstream data set."""


def pretrain(
    dataset: str | None = None,
    domains: list[str] | None = None,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    resume: str | None = None,
    saved: bool = True,
) -> dict[str, Any]:
    """Pre-train UniSRec on a multi-domain corpus; see ``run_pretrain.py`` and ``props/pretrain.yaml``.

    ``dataset`` names a corpus (or any data set) under ``data_path``; otherwise ``domains``
    (default :data:`DEFAULT_PRETRAIN_DOMAINS`) name the data sets whose corpus
    (``corpus_name(domains)``) is used, built under ``data_path`` first if missing. ``resume``
    continues from a checkpoint of this trainer, reusing the data set and settings it was made
    with (``overrides`` given now win). Under ``torchrun`` every rank calls this; rank 0 writes.
    """
    from pathlib import Path

    from recbole_unisrec import distributed
    from recbole_unisrec.checkpoint import load_checkpoint
    from recbole_unisrec.config import PROPS, parse_overrides
    from recbole_unisrec.data.corpus import build_corpus, corpus_name, read_domains
    from recbole_unisrec.data.pretrain_loader import PretrainDataLoader
    from recbole_unisrec.trainer import UniSRecPretrainTrainer

    if resume:
        stored = load_checkpoint(resume).get("run_args") or {}
        dataset = dataset or stored.get("dataset")
        domains = domains or stored.get("domains")
        config_file_list = config_file_list if config_file_list is not None else stored.get("config_files")
        config_dict = {**(stored.get("config_dict") or {}), **(config_dict or {})}
        merged = {**parse_overrides(stored.get("overrides") or []), **parse_overrides(overrides or [])}
        overrides = [f"--{key}={value}" for key, value in merged.items()]
    if dataset is None:
        domains = list(domains or DEFAULT_PRETRAIN_DOMAINS)
        dataset = corpus_name(domains)
    run_args = {"dataset": dataset, "domains": list(domains or []), "config_files": list(config_file_list or []),
                "config_dict": dict(config_dict or {}), "overrides": list(overrides or [])}

    distributed.init_from_env()
    config = Config(model="UniSRec", dataset=dataset, config_file_list=[str(PROPS / "pretrain.yaml"), *(config_file_list or [])],
                    config_dict=config_dict, overrides=overrides)
    if config["train_stage"] != "pretrain":
        raise ValueError(f"pre-training needs train_stage=pretrain, got {config['train_stage']!r}")
    init_seed(config["seed"], config["reproducibility"])
    if distributed.is_main():
        init_logger(config)
    logger = getLogger()
    logger.info(config)

    data_root = Path(config["data_path"]).parent  # RecBole's data_path names the data set's own folder
    if not distributed.is_main():
        distributed.barrier()  # rank 0 builds the corpus and encodes the text vectors first
    try:
        if domains:
            folder = data_root / dataset
            if (folder / f"{dataset}.domains").is_file():
                existing = [name for name, _ in read_domains(folder, dataset)]
                if existing != list(domains):
                    raise ValueError(f"corpus {folder} holds {', '.join(existing)}, not {', '.join(domains)}")
            elif distributed.is_main():
                logger.info(f"building the pre-training corpus {dataset} from {', '.join(domains)} under {data_root}")
                build_corpus(list(domains), data_root, data_root, name=dataset)
        data = create_dataset(config)
        train_set = data.build()[0]
        loader = PretrainDataLoader(config, train_set, shuffle=config["shuffle"])
        targets = transfer_targets(config, data_root)
    finally:
        if distributed.is_main():
            distributed.barrier()

    init_seed(config["seed"] + distributed.rank(), config["reproducibility"])
    net = get_model("UniSRec")(config, train_set).to(config["device"])
    logger.info(net)
    trainer = UniSRecPretrainTrainer(config, net, domains=data.domain_names, run_args=run_args, transfer_targets=targets)
    if resume:
        trainer.resume_checkpoint(resume)
    started = time.perf_counter()
    epoch_losses = trainer.pretrain(loader, saved=saved, show_progress=config["show_progress"])
    return {
        "dataset": dataset,
        "domains": list(data.domain_names),
        "epoch_losses": epoch_losses,
        "train_seconds": time.perf_counter() - started,
        "checkpoint": trainer.saved_model_file if saved else None,
        "last_checkpoint": trainer.last_file if saved else None,
    }


def transfer_names(value: Any) -> list[str]:
    """``transfer_eval`` as a list of data set names: ``"Scientific,Office"``, a list, or empty (off)."""
    if value is None or value is False:
        return []
    names = value.split(",") if isinstance(value, str) else [str(name) for name in value]
    return [name.strip() for name in names if name.strip()]


def transfer_targets(config, data_root):
    """The ``transfer_eval`` data sets' validation splits, each looked up under ``data_root``, then
    under the shipped ``dataset/`` folder; a name found in neither is a one-line error."""
    from recbole_unisrec.data.layout import SHIPPED_DATA
    from recbole_unisrec.evaluation import zero_shot_target

    targets = []
    for name in transfer_names(config["transfer_eval"]):
        root = next((folder for folder in (data_root, SHIPPED_DATA) if (folder / name).is_dir()), None)
        if root is None:
            raise ValueError(f"transfer_eval: no data set {name!r} under {data_root} or {SHIPPED_DATA}; "
                             "name another, or turn it off with --transfer_eval=")
        getLogger().info(f"transfer_eval: {name} ({root / name}), validation split, zero-shot")
        targets.append(zero_shot_target(name, "valid", config, root))
    return targets
