"""The functions the run scripts call: one RecBole run (train, validate, test) of any model
(:func:`run`, from :mod:`recbole_unisrec.runner`), the hyper-parameter search's objective, and
multi-domain pre-training."""
from __future__ import annotations

import time
from logging import getLogger
from typing import TYPE_CHECKING, Any

import yaml
from recbole.utils import init_logger, init_seed

from recbole_unisrec.config import PROPS, Config, merge_overrides, parse_overrides
from recbole_unisrec.registry import create_dataset, get_model
from recbole_unisrec.runner import device_name, run, unique_checkpoint_path  # noqa: F401  (offered here as before)

if TYPE_CHECKING:
    from pathlib import Path

    from recbole_unisrec.ranking import ZeroShotTarget


def objective_function(
    config_dict: dict[str, Any] | None = None,
    config_file_list: list[str] | None = None,
    saved: bool = True,
    overrides: list[str] | None = None,
    pretrained: str | None = None,
    freeze: bool = True,
    checkpoint_name: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """RecBole ``HyperTuning`` objective: one run with the trial's settings in ``config_dict``
    (``checkpoint_name`` and ``resume`` as in :func:`run`).

    ``model`` and ``dataset`` come from ``config_dict``, ``overrides`` or the config files (as
    RecBole's ``fixed_config_file_list``). UniSRec gets ``props/finetune.yaml`` as in
    run_finetune.py (and may start from ``pretrained``); any other model is a baseline with
    ``props/baseline.yaml`` (:func:`recbole_unisrec.baselines.run_baseline`).
    """
    from recbole_unisrec.baselines import run_baseline  # at call time: tests replace it

    config_dict = dict(config_dict or {})
    files = list(config_file_list or [])
    model = config_dict.pop("model", None) or named_model(files, overrides)
    dataset = config_dict.pop("dataset", None)
    if model == "UniSRec":
        return run(model, dataset, [str(PROPS / "finetune.yaml"), *files], config_dict, overrides,
                   pretrained=pretrained, freeze=freeze, saved=saved, checkpoint_name=checkpoint_name, resume=resume)
    if pretrained:
        raise ValueError("only UniSRec fine-tunes from a pre-trained checkpoint here")
    return run_baseline(model, dataset, files, config_dict, overrides, saved=saved, checkpoint_name=checkpoint_name,
                        resume=resume)


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
    from recbole_unisrec.data.corpus import build_corpus, check_domains, corpus_name, read_domains
    from recbole_unisrec.data.layout import require_dataset
    from recbole_unisrec.data.pretrain_loader import PretrainDataLoader
    from recbole_unisrec.trainer import UniSRecPretrainTrainer

    if resume:
        stored = load_checkpoint(resume).get("run_args") or {}
        dataset = dataset or stored.get("dataset")
        domains = domains or stored.get("domains")
        config_file_list = config_file_list if config_file_list is not None else stored.get("config_files")
        config_dict = {**(stored.get("config_dict") or {}), **(config_dict or {})}
        overrides = merge_overrides(stored.get("overrides") or [], overrides or [])
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
    data_root = Path(config["data_path"]).parent  # RecBole's data_path names the data set's own folder
    if not domains:  # a corpus named by -d must be there; one of --domains is built below if missing
        require_dataset(config["data_path"], dataset)
    elif not (data_root / dataset / f"{dataset}.domains").is_file():
        check_domains(list(domains), data_root)
    init_seed(config["seed"], config["reproducibility"])
    if distributed.is_main():
        init_logger(config)
    logger = getLogger()
    logger.info(config)

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


def transfer_targets(config: Config, data_root: Path) -> list[ZeroShotTarget]:
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
