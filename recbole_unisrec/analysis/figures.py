"""Matplotlib figures drawn without pyplot (no display, no global state) and written atomically."""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recbole_unisrec.fileio import atomic_write


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg (PNG) canvas, independent of any pyplot backend."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``figure`` as PNG to ``path`` whole or not at all (temporary file, then rename)."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return path
