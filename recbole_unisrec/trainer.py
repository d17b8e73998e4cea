"""Trainers of this plugin (UniSRec pre-training); RecBole supplies the rest.

:class:`UniSRecPretrainTrainer` is a RecBole ``Trainer`` for multi-domain pre-training. Its name
is deliberately not ``UniSRecTrainer``: ``registry.get_trainer`` looks that name up for every
UniSRec run, and fine-tuning keeps RecBole's stock ``Trainer``. ``run_pretrain.py`` (through
``quick_start.pretrain``) uses this one.

Checkpoints
-----------
A checkpoint is a dict of tensors and plain values that loads with
``torch.load(weights_only=True)``, written to a temporary file and renamed (a crash never
leaves a half-written file under the real name):

``state_dict``, ``config`` (plain dict), ``epoch`` (last complete epoch, -1 for none),
``resume_epoch`` / ``resume_batch`` (where training continues: an epoch and a batch within it),
``cur_step``, ``optimizer`` (and ``scaler``), ``rng`` (torch / CUDA / numpy / python generator
states of every rank, as tensors), ``partial`` (loss sums of a part-done epoch),
``epoch_losses``, ``domains``, ``text_encoder`` (model, pooling, vector size), ``world_size``,
``run_args`` (data set, overrides and config files of the run, reused by ``--resume``),
``transfer_log`` and ``best_transfer`` (the zero-shot evaluations so far, below).

Files, in ``checkpoint_dir``: ``UniSRec-<corpus>-last.pth`` (refreshed at every epoch end and
every ``checkpoint_steps`` steps: the point to resume from) and ``UniSRec-<corpus>-<n>.pth``
after epoch ``n`` for every ``save_step``-th epoch and the last one. Only rank 0 writes; all
ranks wait for it.

Resuming restores parameters, optimizer, generator states, the epoch and the batch position
(the loader's batches and augmentation draws are functions of ``(seed, epoch)``), so the
losses of the resumed epochs equal those of an uninterrupted run.

Transfer while pre-training
---------------------------
With ``transfer_eval`` data sets (:class:`~recbole_unisrec.ranking.ZeroShotTarget`), the model
is evaluated zero-shot (text only, no training) on each one's validation split before the first
step (the untrained model: the reference), after every epoch and every ``transfer_eval_step``
steps: a console line, TensorBoard scalars
``Transfer/<name>/ndcg@10`` (x = step), and a row of ``UniSRec-<corpus>-transfer.csv`` (rewritten
whole each time). Whenever the mean NDCG@10 over the data sets is the best so far,
``UniSRec-<corpus>-best-transfer.pth`` is written (a full checkpoint, resumable like the others).
Choosing a checkpoint this way is model selection on those data sets' validation splits.
"""
from __future__ import annotations

import contextlib
import os
from time import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from recbole.trainer import trainer as recbole_trainer
from recbole.trainer.trainer import AbstractTrainer, Trainer
from recbole.utils import set_color
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from recbole_unisrec import distributed
from recbole_unisrec.checkpoint import CheckpointError, load_checkpoint
from recbole_unisrec.compat import plain_config
from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.fileio import atomic_write, save_checkpoint
from recbole_unisrec.resume import restore_rng, rng_state

if TYPE_CHECKING:
    from collections.abc import Callable

    from recbole.config import Config
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.data.interaction import Interaction

    from recbole_unisrec.model.unisrec import UniSRec

CHECKPOINT_FORMAT = "recbole_unisrec.pretrain/1"

# Settings that change the losses: a resumed run that differs in one of them is warned about.
_RESUME_SENSITIVE = (
    "seed", "train_batch_size", "learning_rate", "learner", "weight_decay", "hidden_size", "n_layers",
    "n_heads", "inner_size", "n_exps", "temperature", "lambda", "item_drop_ratio", "item_drop_coefficient",
    "hidden_dropout_prob", "attn_dropout_prob", "adaptor_dropout_prob", "MAX_ITEM_LIST_LENGTH",
    "word_drop_ratio", "text_encoder", "text_pooling", "pretrain_batch_slots", "pretrain_targets_per_row",
    "pretrain_domain_batches", "pretrain_logq_correction", "pretrain_item_candidates",
    "adaptor_per_occurrence",
)


class _ModelOnly(AbstractTrainer):
    """Stands in for ``AbstractTrainer.__init__`` in the pre-training trainer's MRO.

    RecBole's wraps the model in ``DistributedDataParallel(device_ids=[local_rank])``, which
    only works on CUDA and wraps ``forward`` rather than the loss; the pre-training trainer
    wraps its own loss step instead (gloo on CPU too)."""

    def __init__(self, config: Config, model: UniSRec) -> None:
        self.config = config
        self.model = model


class _PretrainStep(nn.Module):
    """The model's two pre-training terms as a module ``forward``, so DistributedDataParallel
    wraps exactly the computation that is back-propagated."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, interaction: Interaction) -> torch.Tensor:
        return torch.stack(self.model.pretrain_terms(interaction))


class _NullWriter:
    """TensorBoard writer of ranks other than 0: writes nothing."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def add_hparams(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _no_tensorboard():
    """RecBole's ``Trainer.__init__`` opens a TensorBoard event file; ranks other than 0 must not."""
    original = recbole_trainer.get_tensorboard
    recbole_trainer.get_tensorboard = lambda logger: _NullWriter()
    try:
        yield
    finally:
        recbole_trainer.get_tensorboard = original


class UniSRecPretrainTrainer(Trainer, _ModelOnly):
    """Multi-domain pre-training of UniSRec (see the module docstring).

    ``fit`` pre-trains for ``pretrain_epochs`` epochs on a
    :class:`~recbole_unisrec.data.pretrain_loader.PretrainDataLoader`; ``valid_data`` is unused.
    ``domains`` and ``run_args`` are stored in the checkpoints.
    """

    def __init__(self, config: Config, model: UniSRec, domains: list[str] | None = None,
                 run_args: dict[str, Any] | None = None, transfer_targets: list | None = None) -> None:
        if config["train_stage"] != "pretrain":
            raise ValueError(f"{type(self).__name__} pre-trains; train_stage is {config['train_stage']!r}")
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        with contextlib.nullcontext() if self.rank == 0 else _no_tensorboard():
            super().__init__(config, model)
        self.pretrain_epochs = int(config["pretrain_epochs"])
        self.save_step = int(config["save_step"] or 0)
        self.checkpoint_steps = int(config["checkpoint_steps"] or 0)
        self.lam = float(config["lambda"])
        self.domains = list(domains or [config["dataset"]])
        self.run_args = dict(run_args or {})
        # every file of the run is <file_stem>-<what>: -last.pth, -<epochs>.pth, -best-transfer.pth, -transfer.csv
        self.file_stem = os.path.join(self.checkpoint_dir, f"{config['model']}-{config['dataset']}")
        self.last_file = f"{self.file_stem}-last.pth"
        self.saved_model_file = None
        self.start_batch = 0
        self.epoch_losses: list[dict[str, float]] = []
        self._partial: dict[str, Any] | None = None
        self.transfer_targets = list(transfer_targets or [])
        self.transfer_eval_step = int(config["transfer_eval_step"] or 0)
        self.transfer_log: list[dict[str, float]] = []
        self.best_transfer: dict[str, float] | None = None
        self.transfer_file, self.best_transfer_file = f"{self.file_stem}-transfer.csv", f"{self.file_stem}-best-transfer.pth"
        self.step_module: nn.Module = _PretrainStep(model)
        if distributed.is_distributed():
            # the only buffer is the constant text-vector table: never broadcast it
            buffers = [f"model.{name}" for name, _ in model.named_buffers()]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.step_module, buffers)
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.step_module, device_ids=device_ids)

    # --- training ---------------------------------------------------------------------------

    def fit(self, train_data: AbstractDataLoader, valid_data: AbstractDataLoader | None = None, verbose: bool = True,
            saved: bool = True, show_progress: bool = False, callback_fn: Callable | None = None) -> tuple[float, None]:
        """Pre-train (RecBole's entry point); returns ``(-1, None)`` like a run without validation."""
        self.pretrain(train_data, verbose=verbose, saved=saved, show_progress=show_progress)
        return -1, None

    def pretrain(self, train_data: AbstractDataLoader, verbose: bool = True, saved: bool = True, show_progress: bool = False) -> list[dict[str, float]]:
        """Epochs ``start_epoch .. pretrain_epochs - 1``; returns every epoch's mean losses so far."""
        if self.pretrain_epochs == 0 and self.cur_step == 0 and saved:
            # the untrained network as a checkpoint: fine-tuning it (-p) is the control for a pre-trained one
            path = f"{self.file_stem}-0.pth"
            self._save(path, 0, 0, None, verbose=verbose)
            self.saved_model_file = path
        elif self.start_epoch >= self.pretrain_epochs and verbose:
            self.logger.info(f"pre-training already complete: {self.start_epoch} of {self.pretrain_epochs} epochs")
        if self.cur_step == 0 and not self.transfer_log:  # the untrained model: the reference every later row is read against
            self._evaluate_transfer(0.0, dict.fromkeys(("loss", "seq_item", "seq_seq"), float("nan")), saved=saved,
                                    reference=True)
        for epoch in range(self.start_epoch, self.pretrain_epochs):
            start_batch = self.start_batch if epoch == self.start_epoch else 0
            train_data.set_epoch(epoch, start_batch)
            started = time()
            losses = self._train_epoch(train_data, epoch, show_progress=show_progress, saved=saved)
            seconds = time() - started
            self.epoch_losses.append(losses)
            if verbose:
                self.logger.info(self._epoch_line(epoch, seconds, losses))
            self.tensorboard.add_scalar("Loss/Pretrain", losses["loss"], epoch)
            self.tensorboard.add_scalar("Loss/Pretrain_seq_item", losses["seq_item"], epoch)
            self.tensorboard.add_scalar("Loss/Pretrain_seq_seq", losses["seq_seq"], epoch)
            improved = self._evaluate_transfer(epoch + 1.0, losses, saved=saved)
            if saved:
                self._save(self.last_file, epoch + 1, 0, None, verbose=False)
                if improved:
                    self._save(self.best_transfer_file, epoch + 1, 0, None, verbose=verbose)
                if epoch + 1 == self.pretrain_epochs or (self.save_step and (epoch + 1) % self.save_step == 0):
                    path = f"{self.file_stem}-{epoch + 1}.pth"
                    self._save(path, epoch + 1, 0, None, verbose=verbose)
                    self.saved_model_file = path
        self.start_epoch, self.start_batch = self.pretrain_epochs, 0
        self.tensorboard.flush()
        return list(self.epoch_losses)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False, saved=True) -> dict[str, float]:
        """One epoch (from ``train_data.start_batch``); the mean seq-item, seq-seq and total loss per step."""
        self.model.train()
        start_batch = train_data.start_batch
        n_batches = start_batch + len(train_data)
        sums, steps, targets = [0.0, 0.0], 0, 0
        if self._partial is not None and self._partial.get("epoch") == epoch_idx:
            sums, steps, targets = list(self._partial["sums"]), int(self._partial["steps"]), int(self._partial["targets"])
        self._partial = None
        batches = train_data
        if show_progress:
            batches = tqdm(train_data, total=len(train_data), ncols=100, desc=set_color(f"Pretrain {epoch_idx:>5}", "pink"))
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.enable_scaler)
        for offset, interaction in enumerate(batches):
            batch_idx = start_batch + offset
            interaction = interaction.to(self.device)
            self.optimizer.zero_grad()
            with torch.autocast(device_type=self.device.type, enabled=self.enable_amp):
                terms = self.step_module(interaction)
            loss = terms[0] + self.lam * terms[1]
            self._check_nan(loss)
            scaler.scale(loss).backward()
            if self.clip_grad_norm:
                scaler.unscale_(self.optimizer)  # clip the true gradients, not the float16-scaled ones
                nn.utils.clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
            scaler.step(self.optimizer)
            scaler.update()
            self.cur_step += 1
            means = distributed.all_reduce_sum(terms.detach().float()) / self.world_size
            sums[0] += float(means[0])
            sums[1] += float(means[1])
            steps += 1
            targets += int((interaction[TARGETS_FIELD] > 0).sum())
            if show_progress:
                batches.set_postfix_str(f"loss {sums[0] / steps + self.lam * sums[1] / steps:.4f}")
            mid_epoch = batch_idx + 1 < n_batches
            partial = {"epoch": epoch_idx, "sums": list(sums), "steps": steps, "targets": targets}
            if mid_epoch and self.transfer_eval_step and self.cur_step % self.transfer_eval_step == 0:
                running = {"loss": (sums[0] + self.lam * sums[1]) / steps, "seq_item": sums[0] / steps, "seq_seq": sums[1] / steps}
                if self._evaluate_transfer(epoch_idx + (batch_idx + 1) / n_batches, running, saved=saved) and saved:
                    self._save(self.best_transfer_file, epoch_idx, batch_idx + 1, partial, verbose=False)
            if saved and self.checkpoint_steps and (batch_idx + 1) % self.checkpoint_steps == 0 and mid_epoch:
                self._save(self.last_file, epoch_idx, batch_idx + 1, partial, verbose=False)
        steps = max(steps, 1)
        seq_item, seq_seq = sums[0] / steps, sums[1] / steps
        total_targets = int(distributed.all_reduce_sum(torch.tensor([targets], device=self.device)).item())
        return {"loss": seq_item + self.lam * seq_seq, "seq_item": seq_item, "seq_seq": seq_seq,
                "steps": steps, "sequences": total_targets}

    def _epoch_line(self, epoch: int, seconds: float, losses: dict[str, float]) -> str:
        places = self.config["loss_decimal_place"] or 4
        return (set_color(f"epoch {epoch} pre-training", "green") + " [" + set_color("time", "blue")
                + f": {seconds:.2f}s, {losses['steps']} steps, {losses['sequences'] / max(seconds, 1e-9):.0f} sequences/s, "
                + set_color("train loss", "blue") + f": {losses['loss']:.{places}f} (seq-item {losses['seq_item']:.{places}f}, "
                + f"seq-seq {losses['seq_seq']:.{places}f})]")

    # --- transfer while pre-training ---------------------------------------------------------

    def _evaluate_transfer(self, epochs_done: float, losses: dict[str, float], saved: bool = True,
                           reference: bool = False) -> bool:
        """Evaluate zero-shot on every ``transfer_eval`` data set and log it; True when the mean
        NDCG@10 is the best so far. Every rank evaluates (the same weights give the same numbers),
        so all ranks agree on writing the best checkpoint, a collective. ``reference``: the untrained
        model before the first step, logged but never the best-transfer checkpoint."""
        if not self.transfer_targets:
            return False
        from recbole_unisrec.ranking import evaluate_zero_shot

        started = time()
        row: dict[str, float] = {"epoch": round(epochs_done, 4), "step": self.cur_step,
                                 **{key: losses[key] for key in ("loss", "seq_item", "seq_seq")}}
        for target in self.transfer_targets:
            metrics = evaluate_zero_shot(self.model, target)
            row.update({f"{target.name}_{key}": value for key, value in metrics.items()})
            self.tensorboard.add_scalar(f"Transfer/{target.name}/ndcg@10", metrics["ndcg@10"], self.cur_step)
        row["mean_ndcg@10"] = float(np.mean([row[f"{t.name}_ndcg@10"] for t in self.transfer_targets]))
        row["eval_seconds"] = round(time() - started, 2)
        self.transfer_log.append(row)
        improved = not reference and (self.best_transfer is None or row["mean_ndcg@10"] > self.best_transfer["mean_ndcg@10"])
        if improved:
            self.best_transfer = {"epoch": row["epoch"], "step": row["step"], "mean_ndcg@10": row["mean_ndcg@10"]}
        scores = ", ".join(f"{t.name} {row[f'{t.name}_ndcg@10']:.4f}" for t in self.transfer_targets)
        self.logger.info(set_color(f"zero-shot {self.transfer_targets[0].split} NDCG@10", "blue")
                         + (" untrained (the reference)" if reference else f" after {row['epoch']:g} epochs (step {self.cur_step})")
                         + f": {scores}"
                         + (" (best so far)" if improved else "") + f" [{row['eval_seconds']:.1f}s]")
        if saved and self.rank == 0:
            self._write_transfer_log()
        return improved

    def _write_transfer_log(self) -> None:
        columns: list[str] = []
        for row in self.transfer_log:
            columns.extend(key for key in row if key not in columns)
        with atomic_write(self.transfer_file) as handle:
            handle.write(",".join(columns) + "\n")
            for row in self.transfer_log:
                handle.write(",".join("" if row.get(key) is None else f"{row[key]:.6g}" for key in columns) + "\n")

    # --- checkpoints ------------------------------------------------------------------------

    def _rng_states(self) -> dict[str, list[torch.Tensor]]:
        """Every rank's generator states as tensors (a collective under torchrun)."""
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        return {key: [part.cpu() for part in distributed.all_gather_tensors(value.to(device))]
                for key, value in rng_state(self.device).items()}

    def _restore_rng(self, states: dict[str, list[torch.Tensor]]) -> None:
        restore_rng({key: parts[self.rank] for key, parts in states.items()}, self.device)

    def checkpoint_state(self, resume_epoch: int, resume_batch: int, partial: dict[str, Any] | None) -> dict[str, Any]:
        """The checkpoint dict (a collective under torchrun: every rank must call it)."""
        rng = self._rng_states()
        vectors = getattr(self.model, "text_vectors", None)
        return {
            "format": CHECKPOINT_FORMAT,
            "state_dict": {name: value.detach().cpu() for name, value in self.model.state_dict().items()},
            "config": plain_config(self.config),
            "epoch": resume_epoch - 1,
            "resume_epoch": resume_epoch,
            "resume_batch": resume_batch,
            "cur_step": self.cur_step,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "partial": partial,
            "epoch_losses": [dict(losses) for losses in self.epoch_losses],
            "domains": list(self.domains),
            "text_encoder": {
                "model": self.config["text_encoder"],
                "pooling": self.config["text_pooling"],
                "dim": int(vectors.shape[1]) if vectors is not None else None,
            },
            "world_size": self.world_size,
            "run_args": self.run_args,
            "transfer_log": [dict(row) for row in self.transfer_log],
            "best_transfer": dict(self.best_transfer) if self.best_transfer else None,
        }

    def _save(self, path: str, resume_epoch: int, resume_batch: int, partial: dict[str, Any] | None, verbose: bool = True) -> None:
        state = self.checkpoint_state(resume_epoch, resume_batch, partial)
        if self.rank == 0:
            save_checkpoint(state, path)
            if verbose:
                self.logger.info(set_color("Saving current", "blue") + f": {path}")
        distributed.barrier()

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """RecBole's hook: a checkpoint that resumes after epoch ``epoch``."""
        path = kwargs.pop("saved_model_file", None) or self.saved_model_file or self.last_file
        self._save(path, epoch + 1, 0, None, verbose=verbose)

    def resume_checkpoint(self, resume_file: str | os.PathLike) -> None:
        """Continue from a checkpoint of this trainer; anything else is a one-line ``CheckpointError``."""
        path = str(resume_file)
        checkpoint = load_checkpoint(path, map_location="cpu")
        if checkpoint.get("slimmed_from"):
            raise CheckpointError(f"{path}: a slim copy without optimizer or resume state (for fine-tuning); resume from "
                                  f"the full checkpoint it was made from, {checkpoint['slimmed_from'].get('file')}")
        if checkpoint.get("format") != CHECKPOINT_FORMAT or "resume_epoch" not in checkpoint:
            raise CheckpointError(f"{path}: not a pre-training checkpoint of this project (no resume state)")
        domains = list(checkpoint.get("domains") or [])
        if domains != self.domains:
            raise CheckpointError(f"{path}: pre-trained on {', '.join(domains) or 'unknown domains'}, "
                                  f"but this run's corpus holds {', '.join(self.domains)}")
        encoder = checkpoint.get("text_encoder") or {}
        ours = (self.config["text_encoder"], self.config["text_pooling"])
        if (encoder.get("model"), encoder.get("pooling")) != ours:
            raise CheckpointError(f"{path}: made with text encoder {encoder.get('model')!r} ({encoder.get('pooling')} pooling), "
                                  f"this run uses {ours[0]!r} ({ours[1]} pooling)")
        try:
            self.model.load_state_dict(checkpoint["state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{path}: does not fit this model ({str(error).strip().splitlines()[0]})") from None
        resume_epoch, resume_batch = int(checkpoint["resume_epoch"]), int(checkpoint["resume_batch"])
        saved_world = int(checkpoint.get("world_size") or 1)
        if resume_batch and saved_world != self.world_size:
            raise CheckpointError(f"{path}: saved mid-epoch by {saved_world} process(es); resume it with the same "
                                  f"number, or resume from an epoch-end checkpoint")
        saved_config = checkpoint.get("config") or {}
        changed = [key for key in _RESUME_SENSITIVE if key in saved_config and saved_config[key] != plain_config({key: self.config[key]})[key]]
        if changed:
            self.logger.warning(f"resuming with settings that differ from the checkpoint's ({', '.join(changed)}): "
                                "losses will differ from an uninterrupted run")
        if saved_world == self.world_size:
            self._restore_rng(checkpoint["rng"])
        else:
            self.logger.warning(f"{path} was saved by {saved_world} process(es), this run has {self.world_size}: "
                                "random generators start afresh")
        self.start_epoch, self.start_batch = resume_epoch, resume_batch
        self.cur_step = int(checkpoint.get("cur_step") or 0)
        self.epoch_losses = [dict(losses) for losses in checkpoint.get("epoch_losses") or []]
        self._partial = checkpoint.get("partial")
        self.transfer_log = [dict(row) for row in checkpoint.get("transfer_log") or []]
        self.best_transfer = checkpoint.get("best_transfer")
        self.saved_model_file = path
        where = f"epoch {resume_epoch}" + (f", batch {resume_batch}" if resume_batch else "")
        self.logger.info(f"Checkpoint {path} loaded: resuming pre-training at {where}")
