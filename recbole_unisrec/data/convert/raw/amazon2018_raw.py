"""Amazon 2018 (Ni, Li & McAuley, EMNLP'19) raw files -> :class:`SequenceData`.

Inputs, as released by the McAuley lab:

``<Category>.csv`` (ratings only)
    ``item,user,rating,time`` per line, no header, ``time`` in unix seconds.
``meta_<Category>.json.gz``
    one JSON object per line with ``asin``, ``title``, ``category`` (a list, top level first),
    ``brand`` and more.

Preprocessing follows the UniSRec paper's script (``process_amazon.py``) with its
non-determinism removed:

1. **Metadata filter.** Only ratings of items whose metadata has a *usable title* are kept.
   A title is usable when, after :func:`clean_text` (HTML unescape, whitespace collapse), it is
   non-empty, holds no HTML tag (``<b>``, ``</span>``, ...; scraped pages left markup in some
   titles) and is at most ``max_title_chars`` (1000) characters long (longer "titles" are page
   text or JavaScript that leaked into the field). The first metadata line of an ASIN with a
   usable title wins; later duplicate lines are ignored. Category entries and brands that hold
   HTML tags or exceed 2000 characters (the paper's field limit) are left out of the text.
2. **Duplicate ratings.** A user who rated an item more than once keeps only the earliest
   rating (smallest time; the rating value is not used).
3. **k-core.** Users with fewer than ``user_k`` and items with fewer than ``item_k``
   interactions are removed, repeatedly, until none is left (default 5 and 5, as the paper).
4. **Order.** Each user's items are sorted by ``(time, item id)`` -- the original sorted by time
   only, so same-second items came out in Python's randomised set order. Users are ordered by
   user id (string order), so the output does not depend on the input's line order.

Item text is ``join_text_fields(title, ' '.join(category[1:] or category), brand)``: the top
level category (the same for every item of a file) is left out when deeper levels exist.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from pathlib import Path
from typing import Hashable, Iterable, Sequence, TypeVar

from recbole_unisrec.data.convert.common import SequenceData, clean_text, join_text_fields, read_json_objects
from recbole_unisrec.fileio import DataFormatError, read_lines

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 1000
MAX_FIELD_CHARS = 2000  # the paper's cleaning empties any field of 2000 characters or more
_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")

T = TypeVar("T", bound=Sequence)


def k_core_filter(interactions: Iterable[T], user_k: int = 5, item_k: int = 5) -> list[T]:
    """Iteratively drop interactions of users with < ``user_k`` and items with < ``item_k`` of them.

    Each interaction is a sequence whose element 0 is the user and element 1 the item. The
    input order of the survivors is kept. Thresholds of 0 or 1 keep everything.
    """
    kept = list(interactions)
    if user_k < 0 or item_k < 0:
        raise ValueError(f"k-core thresholds must be >= 0, got user_k={user_k}, item_k={item_k}")
    while True:
        user_count: Counter[Hashable] = Counter(row[0] for row in kept)
        item_count: Counter[Hashable] = Counter(row[1] for row in kept)
        survivors = [row for row in kept if user_count[row[0]] >= user_k and item_count[row[1]] >= item_k]
        if len(survivors) == len(kept):
            return survivors
        kept = survivors


def usable_title(raw: object, max_chars: int = MAX_TITLE_CHARS) -> str | None:
    """The cleaned title, or ``None`` when it is missing, empty, holds HTML markup or is too long."""
    if not isinstance(raw, str):
        return None
    title = clean_text(raw)
    if not title or len(title) > max_chars or _HTML_TAG.search(title):
        return None
    return title


def _usable_field(raw: object) -> str:
    if not isinstance(raw, str):
        return ""
    value = clean_text(raw)
    if len(value) >= MAX_FIELD_CHARS or _HTML_TAG.search(value):
        return ""
    return value


def item_text(meta: dict, title: str) -> str:
    """``title. categories. brand.`` from one metadata record (``title`` already checked)."""
    categories = meta.get("category") or []
    if isinstance(categories, str):
        categories = [categories]
    if not isinstance(categories, list):
        categories = []
    categories = [value for value in (_usable_field(c) for c in categories) if value]
    category_text = " ".join(categories[1:] or categories)
    return join_text_fields(title, category_text, _usable_field(meta.get("brand")))


def load_meta_texts(meta_path: Path, max_title_chars: int = MAX_TITLE_CHARS) -> dict[str, str]:
    """ASIN -> item text for every metadata record with a usable title (first such line wins)."""
    texts: dict[str, str] = {}
    unusable = 0
    for number, record in read_json_objects(meta_path):
        asin = record.get("asin")
        if not isinstance(asin, str) or not asin.strip():
            raise DataFormatError(meta_path, "record has no 'asin'", number)
        asin = asin.strip()
        if asin in texts:
            continue
        title = usable_title(record.get("title"), max_title_chars)
        if title is None:
            unusable += 1
            continue
        texts[asin] = item_text(record, title)
    logger.info("%s: %d items with a usable title, %d metadata lines without one", meta_path, len(texts), unusable)
    return texts


def load_ratings(ratings_path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """``(user, item) -> (time, line)`` of the earliest rating of each pair."""
    earliest: dict[tuple[str, str], tuple[int, int]] = {}
    for number, line in read_lines(ratings_path):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 4:
            raise DataFormatError(ratings_path, f"expected 4 comma-separated columns item,user,rating,time, got {len(fields)}", number)
        item, user, rating, time = (field.strip() for field in fields)
        if not item or not user:
            raise DataFormatError(ratings_path, "empty item or user id", number)
        try:
            rating_value = float(rating)
        except ValueError:
            raise DataFormatError(ratings_path, f"rating {rating!r} is not a number", number) from None
        if not math.isfinite(rating_value):
            raise DataFormatError(ratings_path, f"rating {rating!r} is not a finite number", number)
        try:
            timestamp = int(time)
        except ValueError:
            raise DataFormatError(ratings_path, f"time {time!r} is not an integer (unix seconds)", number) from None
        key = (user, item)
        previous = earliest.get(key)
        if previous is None or timestamp < previous[0]:
            earliest[key] = (timestamp, number)
    return earliest


def load_amazon2018(
    ratings_csv: Path,
    meta_json_gz: Path,
    name: str,
    user_k: int = 5,
    item_k: int = 5,
    max_title_chars: int = MAX_TITLE_CHARS,
) -> SequenceData:
    """Read one Amazon 2018 category and reduce it as the UniSRec paper did (see module doc)."""
    ratings_csv, meta_json_gz = Path(ratings_csv), Path(meta_json_gz)
    texts = load_meta_texts(meta_json_gz, max_title_chars)
    earliest = load_ratings(ratings_csv)
    rows = [(user, item, time) for (user, item), (time, _) in earliest.items() if item in texts]
    logger.info("%s: %d distinct (user, item) ratings, %d with item text", ratings_csv, len(earliest), len(rows))
    rows = k_core_filter(rows, user_k, item_k)

    by_user: dict[str, list[tuple[int, str]]] = {}
    for user, item, time in rows:
        by_user.setdefault(user, []).append((time, item))
    sequences = [(user, [item for _, item in sorted(by_user[user])]) for user in sorted(by_user)]
    used = {item for _, item, _ in rows}
    logger.info("%s: %d users, %d items, %d interactions after %d/%d-core", name, len(sequences), len(used), len(rows), user_k, item_k)
    return SequenceData(
        name=name,
        sequences=sequences,
        texts={item: texts[item] for item in sorted(used)},
        text_source=str(meta_json_gz),
    )
