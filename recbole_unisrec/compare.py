"""Run several models on one data set (optionally several seeds) and tabulate the test results.

A model is named ``NAME[@CHECKPOINT][:STAGE]``:

* ``SASRec``, ``GRU4Rec``, ``FDSAText``, ... – a baseline (:func:`recbole_unisrec.baselines.run_baseline`);
* ``UniSRec:inductive_ft`` / ``UniSRec:transductive_ft`` – UniSRec trained from scratch;
* ``UniSRec@saved/ckpt.pth:inductive_ft`` – UniSRec fine-tuned from a pre-trained checkpoint
  (adaptor-only unless ``freeze=False``);
* ``S3RecText`` runs both of its stages; ``S3RecText@ckpt.pth`` fine-tunes that pre-trained checkpoint.

Tables (written whole after every finished run, so a long comparison keeps what it finished):
``<out>.md`` (Markdown, mean ± sample standard deviation over seeds), ``<out>.csv`` (the same
numbers, mean and std in separate columns) and ``<out>.runs.csv`` (one row per run, with the
device it trained on); ``<out>.curves.csv`` holds each run's training loss and validation score
per epoch. Training time is summarised per device: seeds of one row may come from
different machines (added with ``--resume``), and a CPU's seconds and a GPU's do not average.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import re
import statistics
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path
from typing import Any, Callable

from recbole_unisrec.config import parse_overrides
from recbole_unisrec.data.dataloader import LENGTH_BUCKETING_MODELS, PACKED_TRAINING_MODELS
from recbole_unisrec.fileio import atomic_write, beside
from recbole_unisrec.resume import NOT_COMPARED

METRICS = ("recall@10", "ndcg@10", "recall@50", "ndcg@50")
METRIC_TITLES = {"recall@10": "Recall@10", "ndcg@10": "NDCG@10", "recall@50": "Recall@50", "ndcg@50": "NDCG@50"}
MD_COLUMNS = ("Model", "Seeds", *METRIC_TITLES.values(), "Training time (s)", "Trainable parameters",
              "Epochs trained / tested, per seed")
CSV_COLUMNS = ("model", "seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")),
               "train_seconds_mean", "train_seconds_std", "trainable_parameters", "devices")
RUN_COLUMNS = ("model", "seed", *METRICS, "train_seconds", "trainable_parameters", "best_valid_score", "checkpoint",
               "device", "epochs", "best_epoch", "dataset", "settings")
"""``epochs``: epochs trained (early stopping or the cap); ``best_epoch``: the tested one;
``dataset`` and ``settings`` (:func:`comparison_settings`): what the run was trained on and with.
Runs files written before those columns read them as ``""`` (unknown) or None, and before the
``device`` column (all from the CPU machine of docs/results.md) read as device ``""``."""
CURVE_COLUMNS = ("model", "seed", "epoch", "train_loss", "valid_score")
"""One row per trained epoch of a run (1-based, as ``best_epoch``); ``valid_score`` (the run's
``valid_metric``) is empty for an epoch without validation."""
_OLDER_RUN_COLUMNS = (RUN_COLUMNS[:-2], RUN_COLUMNS[:-4], RUN_COLUMNS[:-5])

STAGES = {"UniSRec": ("inductive_ft", "transductive_ft"), "S3RecText": ("finetune",)}
"""Stages a spec may name (``S3RecText`` without a stage runs pre-training and fine-tuning)."""

_SPEC = re.compile(r"(?P<model>[A-Za-z][A-Za-z0-9_]*)(?:@(?P<checkpoint>[^:]+))?(?::(?P<stage>[A-Za-z_]+))?")


@dataclass(frozen=True)
class ModelSpec:
    text: str
    model: str
    checkpoint: str | None = None
    stage: str | None = None

    @property
    def label(self) -> str:
        """The spec as written, the checkpoint shortened to its file name."""
        label = self.model
        if self.checkpoint:
            label += f"@{Path(self.checkpoint).name}"
        if self.stage:
            label += f":{self.stage}"
        return label


def parse_spec(text: str) -> ModelSpec:
    match = _SPEC.fullmatch(text.strip())
    if not match:
        raise ValueError(f"model {text!r}: expected NAME, NAME:STAGE or NAME@CHECKPOINT[:STAGE]")
    spec = ModelSpec(text, match["model"], match["checkpoint"], match["stage"])
    if spec.checkpoint and spec.model not in STAGES:
        raise ValueError(f"model {text!r}: only UniSRec and S3RecText start from a checkpoint")
    if spec.stage and spec.stage not in STAGES.get(spec.model, ()):
        allowed = "; ".join(f"{model}: {', '.join(stages)}" for model, stages in STAGES.items())
        raise ValueError(f"model {text!r}: unknown stage {spec.stage!r} ({allowed})")
    if spec.checkpoint and not Path(spec.checkpoint).is_file():
        raise ValueError(f"model {text!r}: checkpoint {spec.checkpoint} not found")
    return spec


def check_model(name: str) -> None:
    """A one-line error unless ``name`` is a sequential model of this plugin or of RecBole."""
    from recbole.utils import ModelType

    from recbole_unisrec.registry import get_model

    try:
        model_class = get_model(name)
    except Exception:  # RecBole's lookup ends in optional libraries (lightgbm, ...) for unknown names
        model_class = None
    if model_class is None or getattr(model_class, "type", None) != ModelType.SEQUENTIAL:
        raise ValueError(f"{name!r} is not a sequential model of this plugin or of RecBole")


def run_spec(
    spec: ModelSpec,
    dataset: str,
    seed: int,
    epochs: int | None = None,
    config_file_list: list[str] | None = None,
    overrides: list[str] | None = None,
    freeze: bool = True,
    checkpoint_name: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """One run of ``spec`` with ``seed``; the result dict of :func:`recbole_unisrec.quick_start.run`
    (``checkpoint_name`` and ``resume`` as there)."""
    from recbole_unisrec.baselines import run_baseline
    from recbole_unisrec.quick_start import run

    config_dict: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        config_dict["epochs"] = epochs
    if spec.stage:
        config_dict["train_stage"] = spec.stage
    overrides = overrides_for(spec.model, overrides or [])
    if spec.model == "UniSRec":
        return run("UniSRec", dataset, config_file_list, config_dict, overrides, pretrained=spec.checkpoint, freeze=freeze,
                   checkpoint_name=checkpoint_name, resume=resume)
    if spec.checkpoint:  # S3RecText fine-tuned from a pre-trained checkpoint
        config_dict.update(train_stage="finetune", pre_model_path=spec.checkpoint)
    return run_baseline(spec.model, dataset, config_file_list, config_dict, overrides, checkpoint_name=checkpoint_name,
                        resume=resume)


def comparison_settings(epochs: int | None, freeze: bool, config_file_list: list[str] | None,
                        overrides: list[str] | None) -> str:
    """What every run of a comparison trains with, as one canonical line: the ``--key=value``
    settings (sorted; those that only say where files go or how a run reports left out), the epoch
    cap, ``--no-freeze`` and extra property files. Runs kept by ``--resume`` must match it."""
    settings = {key: value for key, value in parse_overrides(list(overrides or [])).items() if key not in NOT_COMPARED}
    if epochs is not None:
        settings["epochs"] = str(epochs)
    parts = [f"--{key}={value}" for key, value in sorted(settings.items())]
    if not freeze:
        parts.append("--no-freeze")
    parts += [f"--config_files={path}" for path in config_file_list or []]
    return " ".join(parts)


def require_same_setup(runs_file: Path, label: str, kept: dict[str, Any], dataset: str, settings: str) -> None:
    """A run kept by ``--resume`` must come from the same data set and settings as the runs this
    comparison adds, or one table would mix them; runs files older than those columns pass."""
    if kept["dataset"] and kept["dataset"] != dataset:
        raise ValueError(f"{runs_file}: {label}, seed {kept['seed']} ran on {kept['dataset']}, this comparison is on "
                         f"{dataset}; give another --out")
    if kept["dataset"] and kept["settings"] != settings:
        raise ValueError(f"{runs_file}: {label}, seed {kept['seed']} ran with '{kept['settings']}', this comparison "
                         f"with '{settings}'; give the same settings or another --out")


def run_checkpoint_name(out: str | Path, label: str, seed: int) -> str:
    """The best model's file name of one run of a comparison: the same on every call, so that
    ``--resume`` finds the resume state of a run that was stopped part-way."""
    return f"{Path(out).name}-{re.sub(r'[^A-Za-z0-9._-]+', '-', label)}-seed{seed}.pth"


SPEED_FLAGS = {"length_bucketing": LENGTH_BUCKETING_MODELS, "packed_training": PACKED_TRAINING_MODELS}
"""Flags that change only how fast a model trains, and the models each applies to."""


def overrides_for(model: str, overrides: list[str]) -> list[str]:
    """``overrides`` without the speed flags (``--length_bucketing``, ``--packed_training``) that
    ``model`` cannot use (with a warning), so one flag can speed up the models of a mixed list."""
    settings = parse_overrides(overrides)
    if "seed" in settings:
        raise ValueError("give seeds with --seeds, not --seed")
    kept = list(overrides)
    for flag, models in SPEED_FLAGS.items():
        if model in models or settings.get(flag, "False") in ("False", "false", "0"):
            continue
        getLogger().warning(f"{model}: {flag} does not apply to it; trains without it")
        kept = [arg for arg in kept if not arg.startswith(f"--{flag}=")]
    return kept


# --- tables ---------------------------------------------------------------------------------

def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds of the test metrics and training time of one model's runs."""
    row: dict[str, Any] = {"model": label, "seeds": [r["seed"] for r in runs]}
    for metric in METRICS:
        values = [r["test_result"][metric] for r in runs if metric in r["test_result"]]
        row[metric] = _mean_std(values) if len(values) == len(runs) else None
    seconds_by_device: dict[str, list[float]] = {}
    for r in runs:
        seconds_by_device.setdefault(r.get("device") or "", []).append(r["train_seconds"])
    row["seconds_by_device"] = {device: _mean_std(seconds) for device, seconds in seconds_by_device.items()}
    row["train_seconds"] = next(iter(row["seconds_by_device"].values())) if len(seconds_by_device) == 1 else None
    counts = sorted({int(r["trainable_parameters"]) for r in runs})
    row["trainable_parameters"] = counts[0] if len(counts) == 1 else counts
    row["epochs"] = [(r.get("epochs"), r.get("best_epoch")) for r in runs]
    return row


def _fmt(pair: tuple[float, float | None] | None, digits: int) -> str:
    if pair is None:
        return "–"
    mean, std = pair
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_seconds(row: dict[str, Any]) -> str:
    """Mean ± std of the training time; per device (named) where the runs used several."""
    if row["train_seconds"] is not None:
        return _fmt(row["train_seconds"], 1)
    return "; ".join(f"{_fmt(pair, 1)} on {device or 'unrecorded device'}" for device, pair in row["seconds_by_device"].items())


def _fmt_params(value) -> str:
    return f"{value:,}" if isinstance(value, int) else " / ".join(f"{v:,}" for v in value)


def _fmt_epochs(pairs: list[tuple[int | None, int | None]]) -> str:
    """``trained/tested`` for each seed (``–`` for a run recorded before epochs were)."""
    if not any(trained for trained, _ in pairs):
        return "–"
    return ", ".join(f"{trained}/{tested}" if trained else "–" for trained, tested in pairs)


def markdown_table(rows: list[dict[str, Any]], caption: str = "") -> str:
    lines = [caption, ""] if caption else []
    lines.append("| " + " | ".join(MD_COLUMNS) + " |")
    lines.append("|---|" + "---:|" * (len(MD_COLUMNS) - 1))
    for row in rows:
        cells = [row["model"], str(len(row["seeds"])), *(_fmt(row[m], 4) for m in METRICS),
                 _fmt_seconds(row), _fmt_params(row["trainable_parameters"]), _fmt_epochs(row["epochs"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv_text(columns, records) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(records)
    return buffer.getvalue()


def _num(value: float | None) -> str:
    """A number for the CSV files: 10 significant digits (the Markdown table rounds)."""
    return "" if value is None else f"{value:.10g}"


def summary_csv(rows: list[dict[str, Any]]) -> str:
    records = []
    for row in rows:
        record = [row["model"], " ".join(map(str, row["seeds"]))]
        for metric in METRICS:
            mean, std = row[metric] if row[metric] is not None else (None, None)
            record += [_num(mean), _num(std)]
        mean, std = row["train_seconds"] or (None, None)
        params = row["trainable_parameters"]
        record += [_num(mean), _num(std), params if isinstance(params, int) else " ".join(map(str, params)),
                   " / ".join(row["seconds_by_device"])]
        records.append(record)
    return _csv_text(CSV_COLUMNS, records)


def runs_csv(results: list[tuple[str, dict[str, Any]]]) -> str:
    records = [[label, r["seed"], *(_num(r["test_result"].get(m)) for m in METRICS), _num(r["train_seconds"]),
                r["trainable_parameters"], _num(r["best_valid_score"]), r.get("checkpoint") or "", r.get("device") or "",
                r.get("epochs") or "", r.get("best_epoch") or "", r.get("dataset") or "", r.get("settings") or ""]
               for label, r in results]
    return _csv_text(RUN_COLUMNS, records)


def read_runs(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """``(label, result)`` pairs back from a ``<out>.runs.csv`` written by :func:`runs_csv`."""
    path = Path(path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (RUN_COLUMNS, *_OLDER_RUN_COLUMNS):
            raise ValueError(f"{path}: not a run_compare runs file (expected columns {', '.join(RUN_COLUMNS)})")
        results = []
        for line, row in enumerate(reader, start=2):
            try:
                results.append((row["model"], {
                    "seed": int(row["seed"]),
                    "test_result": {m: float(row[m]) for m in METRICS if row[m]},
                    "train_seconds": float(row["train_seconds"]),
                    "trainable_parameters": int(row["trainable_parameters"]),
                    "best_valid_score": float(row["best_valid_score"]) if row["best_valid_score"] else None,
                    "checkpoint": row["checkpoint"] or None,
                    "device": row.get("device") or "",
                    "epochs": int(row["epochs"]) if row.get("epochs") else None,
                    "best_epoch": int(row["best_epoch"]) if row.get("best_epoch") else None,
                    "dataset": row.get("dataset") or "",
                    "settings": row.get("settings") or "",
                }))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}, line {line}: {error}") from None
    return results


def merge_runs(paths: list[str | Path], labels: list[str | None] | None = None,
               seeds: list[int] | None = None, models: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The runs of several runs files as one list, for one table of rows that separate
    ``run_compare.py`` calls made. ``models`` keeps only the runs of models whose names (as the
    runs files give them) match one of these shell-style patterns (``*`` for any text);
    ``labels`` (one per file, None keeps the file's own) relabels a file's runs: ``LABEL`` where
    it holds one model (of those kept), ``LABEL, <model>`` where several.
    ``seeds`` keeps only those seeds. A model and seed found twice is an error naming both files,
    so that no run is counted twice; so are runs of different data sets and a pattern in ``models``
    that matches no run."""
    labels = list(labels) if labels is not None else [None] * len(paths)
    if len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} runs files")
    merged: list[tuple[str, dict[str, Any]]] = []
    source: dict[tuple[str, int], Path] = {}
    matched: set[str] = set()
    for path, file_label in zip(map(Path, paths), labels):
        runs = read_runs(path)
        if models is not None:
            patterns = {label: [pattern for pattern in models if fnmatch.fnmatchcase(label, pattern)] for label, _ in runs}
            matched.update(*patterns.values())
            runs = [(label, result) for label, result in runs if patterns[label]]
        models_kept = {label for label, _ in runs}
        for label, result in runs:
            if file_label:
                label = file_label if len(models_kept) == 1 else f"{file_label}, {label}"
            if seeds is not None and result["seed"] not in seeds:
                continue
            key = (label, result["seed"])
            if key in source:
                raise ValueError(f"{path}: {label}, seed {result['seed']} is also in {source[key]} "
                                 f"(give the files distinct --labels)")
            source[key] = path
            merged.append((label, result))
    unmatched = [pattern for pattern in models or [] if pattern not in matched]
    if unmatched:
        raise ValueError(f"no model matches {unmatched[0]!r} in {', '.join(map(str, paths))}")
    if not merged:
        raise ValueError(f"no runs in {', '.join(map(str, paths))}" + (f" for seeds {seeds}" if seeds else ""))
    datasets = sorted({result["dataset"] for _, result in merged if result["dataset"]})
    if len(datasets) > 1:
        raise ValueError(f"the runs files hold runs on {' and '.join(datasets)}; one table compares one data set")
    order = list(dict.fromkeys(label for label, _ in merged))
    return sorted(merged, key=lambda pair: (order.index(pair[0]), pair[1]["seed"]))


def summary_rows(results: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One :func:`summarise` row per model label, in the order the labels first appear."""
    labels = list(dict.fromkeys(label for label, _ in results))
    return [summarise(label, [r for l, r in results if l == label]) for label in labels]


def write_tables(out: str | Path, results: list[tuple[str, dict[str, Any]]], caption: str = "",
                 other_runs: list[tuple[str, dict[str, Any]]] = ()) -> list[Path]:
    """``<out>.md``, ``<out>.csv`` and ``<out>.runs.csv`` from ``(label, result)`` pairs, each written atomically.

    ``other_runs`` (finished runs this comparison does not summarise, or not yet) are kept in the
    runs file after ``results``: a runs file never loses a finished run."""
    rows = summary_rows(results)
    paths = [beside(out, suffix) for suffix in (".md", ".csv", ".runs.csv")]
    texts = (markdown_table(rows, caption), summary_csv(rows), runs_csv([*results, *other_runs]))
    for path, text in zip(paths, texts):
        with atomic_write(path) as handle:
            handle.write(text)
    return paths


def read_curves(path: str | Path) -> list[list[str]]:
    """The rows of a ``<out>.curves.csv`` (none where there is no file); another file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        if tuple(next(reader, ())) != CURVE_COLUMNS:
            raise ValueError(f"{path}: not a run_compare curves file (expected columns {', '.join(CURVE_COLUMNS)})")
        return list(reader)


def add_curve(out: str | Path, label: str, seed: int, curve: list[dict[str, Any]]) -> Path:
    """Adds one run's learning curve to ``<out>.curves.csv`` (rewritten whole), replacing an
    earlier curve of the same model label and seed (a run repeated without ``--resume``)."""
    path = beside(out, ".curves.csv")
    kept = [row for row in read_curves(path) if row[:2] != [label, str(seed)]]
    records = [*kept, *([label, seed, point["epoch"], _num(point["train_loss"]), _num(point["valid_score"])]
                        for point in curve)]
    with atomic_write(path) as handle:
        handle.write(_csv_text(CURVE_COLUMNS, records))
    return path


def compare(
    specs: list[str],
    dataset: str,
    seeds: list[int],
    out: str | Path,
    epochs: int | None = None,
    config_file_list: list[str] | None = None,
    overrides: list[str] | None = None,
    freeze: bool = True,
    command: str = "",
    runner: Callable[..., dict[str, Any]] = run_spec,
    resume: bool = False,
) -> list[Path]:
    """Run every model with every seed, rewriting the tables after each run.

    Runs go seed by seed (every model with the first seed, then every model with the next), so a
    comparison stopped part-way holds the same seeds for every model; the files list the runs
    model by model.

    ``resume`` keeps the runs already in ``<out>.runs.csv`` (same model label and seed) instead of
    repeating them, so an interrupted comparison, or one extended by more seeds, continues; the run
    that was stopped part-way continues after its last validated epoch. Runs of that file which
    this comparison does not name stay in it (the tables summarise only the named models and seeds)."""
    parsed = [parse_spec(text) for text in specs]
    labels = [spec.label for spec in parsed]
    if len(set(labels)) != len(labels):
        raise ValueError(f"a model is listed twice: {', '.join(labels)}")
    overrides = list(overrides or [])
    for spec in parsed:  # every one-line error before the first (long) run
        check_model(spec.model)
        overrides_for(spec.model, overrides)

    def caption(finished_seeds: list[int]) -> str:
        """The table's caption, naming the seeds it summarises (fewer than asked for while running)."""
        text = (f"{dataset}, test set (leave-one-out, full ranking); mean ± sample std over seeds "
                f"{', '.join(map(str, finished_seeds))}")
        if finished_seeds != seeds:
            text += f" (of {', '.join(map(str, seeds))} asked for)"
        text += "; training time: wall seconds of training incl. validation."
        return text + (f"\n\n`{command}`" if command else "")

    runs_file = beside(out, ".runs.csv")
    finished = read_runs(runs_file) if resume and runs_file.is_file() else []
    read_curves(beside(out, ".curves.csv"))  # a foreign file there: one line now, not after the first run
    kept = {(label, result["seed"]): result for label, result in finished}
    settings = comparison_settings(epochs, freeze, config_file_list, overrides)
    for key in [(label, seed) for seed in seeds for label in labels if (label, seed) in kept]:
        require_same_setup(runs_file, key[0], kept[key], dataset, settings)
    results: list[tuple[str, dict[str, Any]]] = []
    paths: list[Path] = []
    logger = getLogger()

    def write() -> list[Path]:
        done = {(label, result["seed"]) for label, result in results}
        others = [(key[0], result) for key, result in kept.items() if key not in done]
        in_model_order = sorted(results, key=lambda pair: (labels.index(pair[0]), seeds.index(pair[1]["seed"])))
        finished_seeds = [seed for seed in seeds if any(result["seed"] == seed for _, result in results)]
        return write_tables(out, in_model_order, caption(finished_seeds), others)

    for seed in seeds:
        for spec in parsed:
            if (spec.label, seed) in kept:
                logger.info(f"run_compare: {spec.label}, seed {seed}: kept from {runs_file}")
                results.append((spec.label, kept[(spec.label, seed)]))
                paths = write()
                continue
            logger.info(f"run_compare: {spec.label}, seed {seed}")
            result = runner(spec, dataset, seed, epochs=epochs, config_file_list=config_file_list,
                            overrides=overrides, freeze=freeze, checkpoint_name=run_checkpoint_name(out, spec.label, seed),
                            resume=resume)
            results.append((spec.label, {**result, "dataset": dataset, "settings": settings}))
            paths = write()
            if result.get("curve"):
                add_curve(out, spec.label, seed, result["curve"])
    return paths
