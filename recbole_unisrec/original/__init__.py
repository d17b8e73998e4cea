"""Artefacts of the original UniSRec code (RUCAIBox/UniSRec): its checkpoints and data folders.

* :mod:`~recbole_unisrec.original.unpickler` reads its checkpoints without running their code;
* :mod:`~recbole_unisrec.original.checkpoint` maps their weights onto this project's modules;
* :mod:`~recbole_unisrec.original.data_folder` copies a processed data folder and imports its
  ``.feat1CLS`` text vectors.
"""

DEFAULT_PLM_SUFFIX = "feat1CLS"
"""The original code's ``plm_suffix``: its text vectors are ``<Name>.feat1CLS`` (BERT [CLS])."""
