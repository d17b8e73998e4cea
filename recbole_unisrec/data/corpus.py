"""The multi-domain pre-training corpus: several converted data sets merged into one.

Each domain is a data set folder ``<data_root>/<Domain>/`` in the project's atomic-file layout
(see :mod:`recbole_unisrec.data.convert.common`); any of its files may be gzipped
(``<Domain>.train.inter.gz``; the plain file is used when both exist). The corpus
``<out_root>/<name>/`` holds, with ``d`` the domain's position (0, 1, ...) in the order given:

``<name>.{train,valid,test}.inter``
    every domain's rows, domain by domain, with each user and item token prefixed ``<d>-``
    (as the UniSRec authors' ``to_pretrain_atomic_files.py`` did).
``<name>.item2index`` / ``<name>.user2index``
    ``<d>-<raw id>`` tab ``<d>-<index>``, domain by domain, each in its own file's order. A
    domain's item2index must list indices 0, 1, 2, ... in order, so the corpus's text-vector
    table is exactly the per-domain tables concatenated in domain order.
``<name>.text``
    ``item_id:token`` / ``text:token_seq`` keyed by ``<d>-<raw id>``, in item2index order.
``<name>.domains``
    ``<d>`` tab domain name tab number of items, one line per domain.

The folder is written whole or not at all. ``DatasetStats.interactions`` counts every item of
every user's full sequence: the rows of the three ``.inter`` files plus one (the first item,
never a target) per user that has rows.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterator, TextIO

from recbole_unisrec.data.convert.common import INTER_HEADER, TEXT_HEADER, DatasetStats
from recbole_unisrec.data.layout import data_root_hint
from recbole_unisrec.fileio import DataFormatError, atomic_directory, read_lines

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def corpus_name(domains: list[str]) -> str:
    """The domains' initials if they are all different (``Beauty,Toys,Games`` -> ``BTG``), else the names joined by ``_``."""
    initials = [domain[0] for domain in domains]
    if len(set(initials)) == len(initials):
        return "".join(initials)
    return "_".join(domains)


def available_domains(data_root: Path) -> list[str]:
    """Folders under ``data_root`` that hold a ``<Folder>.item2index`` or ``.train.inter`` (plain or gzipped)."""
    if not data_root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in data_root.iterdir()
        if entry.is_dir()
        and any((entry / f"{entry.name}.{suffix}{gz}").is_file() for suffix in ("item2index", "train.inter") for gz in ("", ".gz"))
    )


def domain_file(folder: Path, domain: str, suffix: str) -> Path:
    """``<folder>/<domain>.<suffix>``, or its ``.gz`` when only that exists."""
    plain = folder / f"{domain}.{suffix}"
    if plain.is_file():
        return plain
    packed = folder / f"{domain}.{suffix}.gz"
    if packed.is_file():
        return packed
    raise DataFormatError(plain, f"domain {domain}: file not found (nor {packed.name})")


def check_domains(domains: list[str], data_root: Path) -> None:
    """A one-line error unless ``domains`` are valid names, each listed once, each a folder under ``data_root``."""
    if not domains:
        raise ValueError("build_corpus needs at least one domain")
    seen: set[str] = set()
    for domain in domains:
        if not _NAME.fullmatch(domain):
            raise ValueError(f"domain name {domain!r} must be letters, digits, '_', '-' or '.'")
        if domain in seen:
            raise ValueError(f"domain {domain} is listed twice in {','.join(domains)}")
        seen.add(domain)
    for domain in domains:
        if not (data_root / domain).is_dir():
            found = available_domains(data_root)
            raise ValueError(f"unknown domain {domain}: no folder {data_root / domain}; domains found under {data_root}: "
                             f"{', '.join(found) or 'none'}; {data_root_hint(domain)}")


def build_corpus(domains: list[str], data_root: Path, out_root: Path, name: str | None = None) -> DatasetStats:
    """Merge the data sets ``domains`` under ``data_root`` into ``<out_root>/<name>/`` (see module doc)."""
    data_root, out_root = Path(data_root), Path(out_root)
    domains = list(domains)
    check_domains(domains, data_root)
    name = name or corpus_name(domains)
    if not _NAME.fullmatch(name):
        raise ValueError(f"corpus name {name!r} must be letters, digits, '_', '-' or '.'")
    target = out_root / name
    for domain in domains:
        if os.path.realpath(target) == os.path.realpath(data_root / domain):
            raise ValueError(f"corpus {target} would overwrite the domain folder it reads; choose another name or out_root")
    if len(domains) == 1:
        logger.warning("corpus %s holds a single domain (%s): pre-training will not mix domains", name, domains[0])

    # every input file must exist before anything is written
    files = {
        domain: {suffix: domain_file(data_root / domain, domain, suffix) for suffix in ("item2index", "user2index", "text", *(f"{s}.inter" for s in SPLITS))}
        for domain in domains
    }

    n_users = n_items = rows = users_with_rows = 0
    with atomic_directory(target) as folder:
        outputs = {key: open(folder / f"{name}.{key}", "w", encoding="utf-8", newline="\n") for key in ("item2index", "user2index", "text", *(f"{s}.inter" for s in SPLITS))}
        try:
            outputs["text"].write(TEXT_HEADER + "\n")
            for split in SPLITS:
                outputs[f"{split}.inter"].write(INTER_HEADER + "\n")
            domain_lines = []
            for d, domain in enumerate(domains):
                paths = files[domain]
                items = _copy_index(paths["item2index"], d, outputs["item2index"])
                users = _copy_index(paths["user2index"], d, outputs["user2index"])
                _copy_texts(paths["text"], items, d, outputs["text"])
                item_ids, user_ids = set(items.values()), set(users.values())
                active: set[str] = set()
                for split in SPLITS:
                    rows += _copy_inter(paths[f"{split}.inter"], d, item_ids, user_ids, active, outputs[f"{split}.inter"])
                users_with_rows += len(active)
                n_users += len(users)
                n_items += len(items)
                domain_lines.append(f"{d}\t{domain}\t{len(items)}\n")
                logger.info("corpus %s: domain %d %s with %d users, %d items", name, d, domain, len(users), len(items))
            with open(folder / f"{name}.domains", "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(domain_lines)
        finally:
            for handle in outputs.values():
                handle.close()
    stats = DatasetStats(n_users, n_items, rows + users_with_rows)
    logger.info("corpus %s written to %s: %s", name, target, stats.as_dict())
    return stats


def _index_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataFormatError(path, f"expected 'raw id<TAB>index', got {line[:80]!r}", number)
        yield number, fields[0], fields[1]


def _copy_index(path: Path, d: int, out: TextIO) -> dict[str, str]:
    """Copy an item2index/user2index with the domain prefix; return raw id -> index token."""
    mapping: dict[str, str] = {}
    for number, raw, index in _index_lines(path):
        if index != str(len(mapping)):
            raise DataFormatError(path, f"index {index!r} out of order: expected {len(mapping)} (indices must run 0, 1, 2, ... in file order)", number)
        if raw in mapping:
            raise DataFormatError(path, f"id {raw!r} listed twice", number)
        mapping[raw] = index
        out.write(f"{d}-{raw}\t{d}-{index}\n")
    if not mapping:
        raise DataFormatError(path, "no entries")
    return mapping


def _rows(path: Path, header: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of a tab-separated file after checking its header line; blank
    lines skipped, a row with another number of columns than the header a :class:`DataFormatError`."""
    lines = read_lines(path)
    first = next(lines, (1, ""))
    if first[1] != header:
        raise DataFormatError(path, f"expected the header {header!r}, got {first[1][:80]!r}", first[0])
    columns = header.count("\t") + 1
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise DataFormatError(path, f"expected {columns} tab-separated columns, got {len(fields)}", number)
        yield number, fields


def _copy_texts(path: Path, items: dict[str, str], d: int, out: TextIO) -> None:
    texts: dict[str, str] = {}
    for _, (raw, text) in _rows(path, TEXT_HEADER):
        if raw in items and raw not in texts:
            texts[raw] = text
    for raw in items:
        if raw not in texts or not texts[raw].strip():
            raise DataFormatError(path, f"item {raw!r} of the item2index has no text")
        out.write(f"{d}-{raw}\t{texts[raw]}\n")


def _copy_inter(path: Path, d: int, item_ids: set[str], user_ids: set[str], active: set[str], out: TextIO) -> int:
    count = 0
    for number, (user, history, target) in _rows(path, INTER_HEADER):
        tokens = history.split(" ") if history else []
        if user not in user_ids:
            raise DataFormatError(path, f"user index {user!r} is not in the user2index", number)
        for token in (*tokens, target):
            if token not in item_ids:
                raise DataFormatError(path, f"item index {token!r} is not in the item2index", number)
        active.add(user)
        prefixed = " ".join(f"{d}-{token}" for token in tokens)
        out.write(f"{d}-{user}\t{prefixed}\t{d}-{target}\n")
        count += 1
    return count


def read_domains(folder: Path, name: str) -> list[tuple[str, int]]:
    """The ``(domain name, number of items)`` pairs of corpus ``name`` in ``folder``, in domain order."""
    path = Path(folder) / f"{name}.domains"
    domains: list[tuple[str, int]] = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataFormatError(path, f"expected 'position<TAB>domain<TAB>items', got {len(fields)} columns", number)
        position, domain, count = fields
        if position != str(len(domains)):
            raise DataFormatError(path, f"domain position {position!r} out of order: expected {len(domains)}", number)
        try:
            n_items = int(count)
        except ValueError:
            raise DataFormatError(path, f"item count {count!r} is not an integer", number) from None
        if n_items <= 0 or not domain:
            raise DataFormatError(path, "empty domain name or non-positive item count", number)
        domains.append((domain, n_items))
    if not domains:
        raise DataFormatError(path, "no domains listed")
    return domains
