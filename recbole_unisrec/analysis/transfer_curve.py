"""Pre-training curves: loss and zero-shot NDCG@10 against epochs, from ``UniSRec-<corpus>-transfer.csv``.

The trainer writes one CSV row per zero-shot evaluation (``transfer_eval``): the epochs done (a
fraction mid-epoch), the step, the running pre-training loss and, per data set, Recall and NDCG
at 10 and 50 on its validation split. :func:`read_transfer_log` reads such a file back;
:func:`write_curve` draws one or more runs side by side (loss on the left, zero-shot NDCG@10 per
data set on the right) and writes a Markdown table of each run's epoch-end rows.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recbole_unisrec.fileio import DataFormatError, atomic_write, beside

REQUIRED_COLUMNS = ("epoch", "step", "loss", "mean_ndcg@10")


@dataclass
class TransferLog:
    """One pre-training run's zero-shot evaluations, in the order they were made."""

    label: str
    path: str
    rows: list[dict[str, float]]

    @property
    def datasets(self) -> list[str]:
        """The data sets evaluated, in column order (``<name>_ndcg@10`` columns)."""
        return [key[: -len("_ndcg@10")] for key in self.rows[0] if key.endswith("_ndcg@10") and key != "mean_ndcg@10"]

    def column(self, key: str) -> list[float]:
        return [row[key] for row in self.rows]

    def epoch_ends(self) -> list[dict[str, float]]:
        return [row for row in self.rows if float(row["epoch"]).is_integer()]


def read_transfer_log(path: str | os.PathLike, label: str | None = None) -> TransferLog:
    """Read a transfer CSV; a missing column, a non-number or a step that does not rise is an
    error naming the file and line."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(path, f"not a transfer log: no column {missing[0]!r} (header: {reader.fieldnames})")
        rows = []
        for line, raw in enumerate(reader, start=2):
            try:
                row = {key: float(value) if value != "" else math.nan for key, value in raw.items()}
            except ValueError:
                raise DataFormatError(path, "a value is not a number", line) from None
            if rows and not row["step"] > rows[-1]["step"]:
                # the trainer rewrites the file whole from its resumed history, so its steps always rise;
                # a step that does not is a file appended to twice or stitched in the wrong order
                raise DataFormatError(path, f"step {row['step']:g} does not follow step {rows[-1]['step']:g}", line)
            rows.append(row)
    if not rows:
        raise DataFormatError(path, "no evaluations yet")
    return TransferLog(label or path.parent.name, str(path), rows)


def markdown_table(logs: Sequence[TransferLog]) -> str:
    """Each run's epoch-end rows: loss, and zero-shot validation NDCG@10 / Recall@10 per data set."""
    lines = []
    for log in logs:
        names = log.datasets
        lines += [f"**{log.label}** (`{log.path}`)", "",
                  "| epoch | step | loss | " + " | ".join(f"{n} NDCG@10 / Recall@10" for n in names) + " | mean NDCG@10 |",
                  "|---:|---:|---:|" + "---|" * len(names) + "---:|"]
        for row in log.epoch_ends():
            cells = " | ".join(f"{row[f'{n}_ndcg@10']:.4f} / {row[f'{n}_recall@10']:.4f}" for n in names)
            lines.append(f"| {row['epoch']:g} | {row['step']:g} | {row['loss']:.4f} | {cells} | {row['mean_ndcg@10']:.4f} |")
        lines.append("")
    return "\n".join(lines)


def plot(logs: Sequence[TransferLog], path: str | os.PathLike, title: str = "") -> Path:
    """Loss (left) and zero-shot validation NDCG@10 per data set (right) against epochs."""
    from recbole_unisrec.analysis.figures import new_figure, save_png

    figure = new_figure(14.0, 4.2)
    loss_axes, ndcg_axes = figure.subplots(1, 2)
    markers = "os^vD"
    for log in logs:
        epochs = log.column("epoch")
        line, = loss_axes.plot(epochs, log.column("loss"), marker=".", label=log.label)
        for number, name in enumerate(log.datasets):
            ndcg_axes.plot(epochs, log.column(f"{name}_ndcg@10"), color=line.get_color(),
                           marker=markers[number % len(markers)], markersize=4, label=f"{log.label}: {name}")
    loss_axes.set_xlabel("pre-training epochs")
    loss_axes.set_ylabel("pre-training loss (running mean of the epoch)")
    ndcg_axes.set_xlabel("pre-training epochs")
    ndcg_axes.set_ylabel("zero-shot validation NDCG@10")
    for axes in (loss_axes, ndcg_axes):
        axes.grid(alpha=0.3)
    loss_axes.legend(fontsize="x-small", loc="upper right")
    # one entry per run and data set: beside the panel, where it hides no curve
    ndcg_axes.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        figure.suptitle(title)
    return save_png(figure, path)


def write_curve(out: str | os.PathLike, logs: Sequence[TransferLog], caption: str = "", title: str = "") -> list[Path]:
    """``<out>.md`` (caption and table) and ``<out>.png``, each written whole or not at all."""
    markdown = beside(out, ".md")
    with atomic_write(markdown) as handle:
        handle.write((caption.strip() + "\n\n" if caption else "") + markdown_table(logs))
    return [markdown, plot(logs, beside(out, ".png"), title)]
