"""Converters: each source format reduced to :class:`SequenceData`, written by :func:`write_dataset`.

* :mod:`~recbole_unisrec.data.convert.raw`: public raw formats a user brings (Amazon 2018,
  Online Retail, any table);
* :mod:`~recbole_unisrec.data.convert.shared`: the source formats of the shared data folders
  (``../shared/data``) the shipped data sets are built from; ``SHARED_SOURCES``,
  :func:`convert_shared` and :func:`convert_all_shared` are offered here too;
* :mod:`~recbole_unisrec.data.convert.common`: the output layout and the helpers every converter uses.
"""
from __future__ import annotations

from recbole_unisrec.data.convert.common import DatasetStats, SequenceData, write_dataset
from recbole_unisrec.data.convert.shared import SHARED_SOURCES, convert_all_shared, convert_shared

__all__ = ["SHARED_SOURCES", "DatasetStats", "SequenceData", "convert_all_shared", "convert_shared", "write_dataset"]
