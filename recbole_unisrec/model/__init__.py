"""Models of this plugin. Every class here is found by name through ``recbole_unisrec.registry``."""
from recbole_unisrec.model.packed import SASRec
from recbole_unisrec.model.unisrec import UniSRec
from recbole_unisrec.model.text_baselines import FDSAText, S3RecText

TEXT_MODELS: set[str] = {"UniSRec", "FDSAText", "S3RecText"}
"""Models that read item text vectors: their data sets carry them (``registry.create_dataset``)."""

__all__ = ["UniSRec", "FDSAText", "S3RecText", "SASRec", "TEXT_MODELS"]
