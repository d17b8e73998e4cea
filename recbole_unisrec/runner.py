"""One RecBole run of any model: train, keep the best validation epoch, test.

:func:`run` is what ``run_finetune.py``, the baselines (:mod:`recbole_unisrec.baselines`), the
comparisons and the hyper-parameter search call; :mod:`recbole_unisrec.quick_start` offers it
under its old name too.
"""
from __future__ import annotations

import os
import shlex
import time
from logging import getLogger
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from recbole.utils import dict2str, get_local_time, init_logger, init_seed, set_color

from recbole_unisrec.checkpoint import count_parameters, freeze_for_finetuning, load_checkpoint, load_pretrained
from recbole_unisrec.config import Config
from recbole_unisrec.data.layout import SHIPPED_DATA, read_item_index, require_dataset
from recbole_unisrec.data.preparation import data_preparation
from recbole_unisrec.ranking import require_cutoffs_within_catalog
from recbole_unisrec.registry import create_dataset, get_model, get_trainer

if TYPE_CHECKING:
    from recbole.trainer import Trainer


def require_valid_metric_computed(config: Config) -> None:
    """A ``valid_metric`` that ``metrics`` and ``topk`` do not compute fails in RecBole only after the
    first epoch, with a bare ``KeyError``; say which setting, before any data is read."""
    metric, _, cutoff = str(config["valid_metric"]).lower().partition("@")
    computed = [str(name).lower() for name in config["metrics"]]
    if metric not in computed or (cutoff and (not cutoff.isdigit() or int(cutoff) not in config["topk"])):
        raise ValueError(f"valid_metric: {config['valid_metric']} is not computed (metrics {config['metrics']}, "
                         f"topk {config['topk']})")


def run(
    model: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    pretrained: str | None = None,
    freeze: bool = True,
    saved: bool = True,
    checkpoint_name: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train ``model`` on ``dataset``, keep the best validation epoch, evaluate it on test.

    ``pretrained`` loads a checkpoint's transferable weights first; with ``freeze`` only the
    adaptor, the input LayerNorm (and an ID embedding) then train, as in the original code.
    The best model goes to ``checkpoint_dir/checkpoint_name`` (default: a new, unique name);
    after every validation the run's resume state goes beside it
    (:func:`recbole_unisrec.resume.resume_path`), deleted once the run is tested. ``resume``
    continues from that state where one is there (a run with other settings is refused).
    """
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict, overrides=overrides)
    require_dataset(config["data_path"], config["dataset"])  # a missing data set or checkpoint: one line, no log first
    require_valid_metric_computed(config)
    checkpoint = load_checkpoint(pretrained) if pretrained else None
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)

    data = create_dataset(config)
    require_cutoffs_within_catalog(config["topk"], data.item_num, config["dataset"])
    train_data, valid_data, test_data = data_preparation(config, data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if pretrained:
        load_pretrained(net, pretrained, text_encoder=config["text_encoder"], text_pooling=config["text_pooling"],
                        checkpoint=checkpoint)
        if freeze:
            freeze_for_finetuning(net)
    trainable, total = count_parameters(net)
    logger.info(net)
    logger.info(f"Trainable parameters: {trainable:,} of {total:,}")

    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    trainer.saved_model_file = (os.path.join(config["checkpoint_dir"], checkpoint_name) if checkpoint_name
                                else unique_checkpoint_path(config))
    run_args = {"model": model, "dataset": dataset, "config_file_list": list(config_file_list or []),
                "config_dict": dict(config_dict or {}), "overrides": list(overrides or []), "pretrained": pretrained,
                "freeze": freeze, "checkpoint_name": os.path.basename(trainer.saved_model_file)}
    valid_curve: list[list[float]] = []
    writer, finished = _resumable(trainer, train_data, config, run_args, resume, valid_curve) if saved else (None, False)
    started = time.perf_counter()
    if finished:  # resumed after the last validation: only what fit collects for the metrics (item counts)
        trainer.eval_collector.data_collect(train_data)
    else:
        trainer.fit(train_data, valid_data, saved=saved, show_progress=config["show_progress"],
                    callback_fn=_recording(valid_curve, writer))
    best_valid_score, best_valid_result = trainer.best_valid_score, trainer.best_valid_result
    train_seconds = writer.seconds() if writer else time.perf_counter() - started
    epochs, best_epoch = epochs_trained(trainer, int(config["eval_step"]))
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    if saved and config["local_rank"] == 0:
        from recbole_unisrec.serving import add_serving_info

        add_serving_info(trainer.saved_model_file, data, missing_ok=True)  # item ids and encoder, for serving
        if writer and os.path.exists(writer.path):
            os.remove(writer.path)
    logger.info(set_color("best valid", "yellow") + f": {dict2str(best_valid_result or {})}")
    logger.info(set_color("test result", "yellow") + f": {dict2str(test_result)}")
    if saved and config["local_rank"] == 0:
        logger.info(set_color("checkpoint", "yellow") + f": {trainer.saved_model_file}")
        logger.info(set_color("use it", "yellow") + f": {checkpoint_command(config, trainer.saved_model_file)}")
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
        "epochs": epochs,
        "best_epoch": best_epoch,
        "curve": learning_curve(trainer, valid_curve),
    }


def _recording(valid_curve: list[list[float]], writer: Callable[[int, float], None] | None) -> Callable[[int, float], None]:
    """``fit``'s ``callback_fn``: appends each validation's ``[epoch, score]``, then writes the resume state."""
    def callback(epoch_idx: int, valid_score: float) -> None:
        valid_curve.append([int(epoch_idx), float(valid_score)])
        if writer:
            writer(epoch_idx, valid_score)
    return callback


def learning_curve(trainer: Trainer, valid_curve: list[list[float]]) -> list[dict[str, float | int | None]]:
    """One ``{"epoch", "train_loss", "valid_score"}`` per trained epoch (1-based, as ``best_epoch``;
    ``valid_score`` None where the epoch was not validated): what RecBole only logs."""
    scores = {int(epoch): score for epoch, score in valid_curve}
    return [{"epoch": epoch + 1, "train_loss": float(loss), "valid_score": scores.get(epoch)}
            for epoch, loss in sorted(trainer.train_loss_dict.items())]


def _resumable(trainer, train_data, config, run_args: dict[str, Any], resume: bool, valid_curve: list[list[float]]):
    """The :class:`~recbole_unisrec.resume.ResumeWriter` of a saved run, and whether the state it
    continues had already finished training; restores that state into ``trainer`` (and its
    validations into ``valid_curve``) with ``resume``."""
    from recbole_unisrec.resume import ResumeWriter, check_same_run, load_resume_state, restore, resume_path, run_settings

    logger = getLogger()
    path = resume_path(trainer.saved_model_file)
    settings = run_settings(config, run_args["pretrained"], run_args["freeze"])
    if not (resume and os.path.isfile(path)):
        if os.path.exists(path):  # a stale state of an earlier run under this name: never continued by mistake
            os.remove(path)
        logger.info(set_color("resume state", "yellow") + f": {path} (after every validation; "
                    f"`python run_finetune.py --resume {path}` continues the run if it stops)")
        return ResumeWriter(trainer, train_data, path, settings, run_args, valid_curve), False
    state = load_resume_state(path)
    check_same_run(state, path, settings)
    restore(trainer, train_data, state, path)
    valid_curve.extend(state.get("valid_curve", []))  # absent from states written before the curve was kept
    logger.info(set_color("resuming", "yellow") + f": {path}, after epoch {state['epoch']}"
                + (" (training had finished: testing)" if state["finished"] else ""))
    return (ResumeWriter(trainer, train_data, path, settings, run_args, valid_curve, seconds_before=state["train_seconds"]),
            state["finished"])


def epochs_trained(trainer: Trainer, eval_step: int) -> tuple[int, int | None]:
    """Epochs a finished ``fit`` trained and the (1-based) epoch of its best validation.

    RecBole keys one training loss per epoch by its index, and ``cur_step`` counts the validations
    since the best one (a tie counts as a new best), each ``eval_step`` epochs apart."""
    epochs = max(trainer.train_loss_dict, default=-1) + 1
    if not epochs or eval_step <= 0:
        return epochs, None
    return epochs, epochs - epochs % eval_step - trainer.cur_step * eval_step


def checkpoint_command(config: Config, checkpoint: str) -> str:
    """The command that puts a finished run's checkpoint to use: ``recommend`` for UniSRec (with
    the data set's first items as a history to try), ``evaluate`` for the models it cannot serve."""
    data_root = Path(config["data_path"]).parent  # RecBole's data_path names the data set's own folder
    name = config["dataset"]
    where = ["-d", name] + ([] if data_root.resolve() == SHIPPED_DATA.resolve() else ["--data-root", str(data_root)])
    if config["model"] == "UniSRec":
        history = " ".join(raw for _, raw, _ in read_item_index(config["data_path"], name)[:3])
        words = ["recommend", "--checkpoint", checkpoint, *where, "--history", history]
    else:
        words = ["evaluate", "-p", checkpoint, *where]
    return "python -m recbole_unisrec " + shlex.join(words)


def device_name(device: torch.device) -> str:
    """``"cpu"`` or the card's name (``"NVIDIA H200"``), as the results tables record it."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def unique_checkpoint_path(config: Config) -> str:
    """RecBole names checkpoints ``<model>-<time to the second>.pth``: two runs started in the same
    second overwrite each other's best model. Add the data set, stage and process id."""
    stage = f"-{config['train_stage']}" if config["train_stage"] else ""
    name = f"{config['model']}-{config['dataset']}{stage}-{get_local_time()}-{os.getpid()}.pth"
    return os.path.join(config["checkpoint_dir"], name)
