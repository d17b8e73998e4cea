"""Whole-file-or-nothing writes and line reading with errors that name file and line.

Every file the project writes goes through :func:`atomic_write` or :func:`atomic_directory`:
content is written under a temporary name in the same directory and renamed into place, so a
crash or a concurrent writer never leaves a file that looks complete but is not.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator


_UMASK = os.umask(0)
os.umask(_UMASK)


class DataFormatError(ValueError):
    """Bad input data: the message names the file (and line, where there is one)."""

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message names it. Defined here, below every
    module that raises it (:mod:`recbole_unisrec.checkpoint` offers it under its usual name)."""


def beside(path: str | os.PathLike, suffix: str) -> Path:
    """``<path><suffix>`` in the same folder: a file's ``.gz`` twin, or the ``.md`` / ``.png`` /
    ``.runs.csv`` companions of one output name (``Path.with_suffix`` would replace a dotted name's tail)."""
    path = Path(path)
    return path.with_name(path.name + suffix)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it to ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else "\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def save_checkpoint(state: object, path: str | os.PathLike) -> None:
    """``torch.save(state, path)`` written whole: a stop mid-write leaves the old file or none."""
    import torch  # here, so that reading data files does not import torch

    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces ``path`` as a whole.

    A directory of files that belong together (one data set) appears complete or not at all.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp_dir
        os.chmod(tmp_dir, 0o777 & ~_UMASK)  # mkdtemp creates 0700; give the usual permissions
        with _exclusive_lock(path.parent):  # two writers swap one at a time
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.replace(path, old / path.name)
                os.replace(tmp_dir, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp_dir, path)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


@contextlib.contextmanager
def _exclusive_lock(directory: Path) -> Iterator[None]:
    """An advisory lock on the directory itself, so no lock file is left behind."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with the newline stripped, from a plain or ``.gz`` file.

    Bytes that are not UTF-8 raise :class:`DataFormatError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataFormatError(path, f"not UTF-8 text ({error.reason} at byte {error.start})", number) from None
            yield number, line.rstrip("\r\n")
