"""Analyses of trained models and text vectors (read-only: they train nothing).

* :mod:`recbole_unisrec.analysis.cold_start` – test metrics grouped by the target item's
  popularity in training (``run_cold_start.py``);
* :mod:`recbole_unisrec.analysis.anisotropy` – mean cosine similarity of text vectors within and
  across domains, before and after a UniSRec adaptor (``run_anisotropy.py``);
* :mod:`recbole_unisrec.analysis.figures` – writing matplotlib figures atomically.
"""
