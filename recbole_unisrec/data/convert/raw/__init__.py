"""Converters for public raw formats a user brings: each reads files as their publisher releases
them and reduces them to :class:`~recbole_unisrec.data.convert.common.SequenceData`.

* :mod:`~recbole_unisrec.data.convert.raw.amazon2018_raw`: Amazon 2018 ratings CSV and metadata
  (``convert amazon2018``);
* :mod:`~recbole_unisrec.data.convert.raw.online_retail`: UCI Online Retail CSV (``convert online-retail``);
* :mod:`~recbole_unisrec.data.convert.raw.table`: any interaction log plus any item table
  (``convert table``).
"""
