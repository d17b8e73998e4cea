"""UCI Online Retail raw CSV -> :class:`SequenceData`.

The file (UCI "Online Retail", exported to CSV, e.g. Kaggle's ``data.csv`` or the UniSRec
authors' ``data-utf8.csv``) has a header and the columns
``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``;
descriptions with commas or quotes are CSV-quoted. ``InvoiceDate`` is ``M/D/YYYY H:MM`` in those
exports (``12/1/2010 8:26``); ISO dates (``2010-12-01 08:26[:00]``, as pandas writes the
``.xlsx``) and the "Online Retail II" header (``Invoice``, ``Price``, ``Customer ID``) are
accepted too. The file must be UTF-8 by default; Kaggle's copy is ISO-8859-1, so pass
``encoding="latin-1"`` for it.

Rules:

* Rows are dropped when ``InvoiceNo`` starts with ``C`` (cancellation) or ``Quantity`` is
  zero or negative, and -- with the default ``user_column="CustomerID"`` -- when ``CustomerID``
  is empty. ``user_column="InvoiceNo"`` makes every invoice a user (a session), as the UniSRec
  authors' ``process_or.py`` did; the customer is then not needed.
* Item = ``StockCode`` as written. Item text = the
  most frequent non-empty description among the kept rows of the stock code, after
  :func:`clean_text` and lower-casing (descriptions are all capitals, which reads badly for a
  cased language model; the authors lower-cased too); ties go to the alphabetically smallest.
  Items with no non-empty description are dropped, as in the original script.
* A user's sequence is their items ordered by ``(InvoiceDate, InvoiceNo, line number)``; an
  item repeated on consecutive lines of one invoice counts once. Users are ordered by id
  (string order). ``CustomerID`` values like ``17850.0`` are read as ``17850``.
* k-core: users with fewer than ``user_k`` and items with fewer than ``item_k`` interactions
  are removed repeatedly (the paper used 5 and 5; the defaults are 5 and 5, the one-day sample
  needs 1 and 1).
"""
from __future__ import annotations

import csv
import logging
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Iterator

from recbole_unisrec.data.convert.raw.amazon2018_raw import k_core_filter
from recbole_unisrec.data.convert.common import SequenceData, clean_text
from recbole_unisrec.fileio import DataFormatError, read_lines

logger = logging.getLogger(__name__)

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
# accepted header spellings per column, compared lower-cased without spaces and underscores
_HEADER_NAMES = (
    {"invoiceno", "invoice"},
    {"stockcode"},
    {"description"},
    {"quantity"},
    {"invoicedate"},
    {"unitprice", "price"},
    {"customerid"},
    {"country"},
)
_DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_FLOAT_ID = re.compile(r"(\d+)\.0+")


def _lines(path: Path, encoding: str) -> Iterator[str]:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        for _, line in read_lines(path):
            yield line + "\n"
        return
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    with open(path, encoding=encoding, newline="") as handle:
        for line in handle:
            yield line.rstrip("\r\n") + "\n"


def _parse_date(value: str) -> datetime:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    raise ValueError(value)


def _parse_quantity(value: str) -> float:
    quantity = float(value)
    if quantity != quantity:  # NaN
        raise ValueError(value)
    return quantity


def load_online_retail(
    csv_path: Path,
    name: str = "OnlineRetail",
    user_k: int = 5,
    item_k: int = 5,
    user_column: str = "CustomerID",
    encoding: str = "utf-8",
) -> SequenceData:
    """Read the raw Online Retail CSV and build chronological per-user sequences (see module doc)."""
    csv_path = Path(csv_path)
    if user_column not in ("CustomerID", "InvoiceNo"):
        raise ValueError(f"user_column must be 'CustomerID' or 'InvoiceNo', got {user_column!r}")
    by_customer = user_column == "CustomerID"

    # (user, item, sort key, invoice) per kept purchase line
    events: list[tuple[str, str, tuple[datetime, str, int], str]] = []
    descriptions: dict[str, Counter[str]] = defaultdict(Counter)
    dropped = Counter()
    reader = csv.reader(_lines(csv_path, encoding))
    header_seen = False
    try:
        for row in reader:
            number = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(COLUMNS):
                raise DataFormatError(csv_path, f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)}), got {len(row)}", number)
            if not header_seen:
                names = [cell.strip().lstrip("\ufeff").lower().replace(" ", "").replace("_", "") for cell in row]
                if not all(n in accepted for n, accepted in zip(names, _HEADER_NAMES)):
                    raise DataFormatError(csv_path, f"expected the header {','.join(COLUMNS)}, got {','.join(row)}", number)
                header_seen = True
                continue
            invoice, stock_code, description, quantity, date, _price, customer, _country = (cell.strip() for cell in row)
            try:
                quantity_value = _parse_quantity(quantity)
            except ValueError:
                raise DataFormatError(csv_path, f"Quantity {quantity!r} is not a number", number) from None
            try:
                when = _parse_date(date)
            except ValueError:
                raise DataFormatError(csv_path, f"InvoiceDate {date!r} is not a date like 12/1/2010 8:26 or 2010-12-01 08:26:00", number) from None
            if not invoice or not stock_code:
                raise DataFormatError(csv_path, "empty InvoiceNo or StockCode", number)
            if invoice[0] in "cC":
                dropped["cancellation"] += 1
                continue
            if quantity_value <= 0:
                dropped["quantity <= 0"] += 1
                continue
            if by_customer:
                if not customer:
                    dropped["no CustomerID"] += 1
                    continue
                match = _FLOAT_ID.fullmatch(customer)
                user = match.group(1) if match else customer
            else:
                user = invoice
            item = stock_code
            text = clean_text(description).lower()
            if text:
                descriptions[item][text] += 1
            events.append((user, item, (when, invoice, number), invoice))
    except csv.Error as error:
        raise DataFormatError(csv_path, f"bad CSV ({error})", reader.line_num) from None
    if not header_seen:
        raise DataFormatError(csv_path, "empty file: no header")

    texts = {item: min(counts.items(), key=lambda pair: (-pair[1], pair[0]))[0] for item, counts in descriptions.items()}
    no_text = sum(1 for event in events if event[1] not in texts)
    if no_text:
        dropped["item without description"] += no_text
        events = [event for event in events if event[1] in texts]
    logger.info("%s: %d purchase lines kept; dropped %s", csv_path, len(events), dict(dropped))

    # Collapsing repeats and k-core can each undo the other's result: repeat until both hold.
    events.sort(key=lambda event: (event[0], event[2]))
    while True:
        events = _collapse_repeats(events)
        filtered = k_core_filter(events, user_k, item_k)
        if len(filtered) == len(events):
            break
        events = filtered

    sequences: list[tuple[str, list[str]]] = []
    for user, item, _, _ in events:  # sorted by user, then time
        if not sequences or sequences[-1][0] != user:
            sequences.append((user, []))
        sequences[-1][1].append(item)
    used = sorted({event[1] for event in events})
    logger.info("%s: %d users, %d items, %d interactions after %d/%d-core", name, len(sequences), len(used), len(events), user_k, item_k)
    return SequenceData(name=name, sequences=sequences, texts={item: texts[item] for item in used}, text_source=str(csv_path))


def _collapse_repeats(events: list) -> list:
    """Drop an event that repeats the previous event's item in the same invoice of the same user."""
    kept = []
    for event in events:
        if kept and kept[-1][0] == event[0] and kept[-1][1] == event[1] and kept[-1][3] == event[3]:
            continue
        kept.append(event)
    return kept
