"""Models of this plugin. Every class here is found by name through ``recbole_unisrec.registry``."""
from recbole_unisrec.model.packed import SASRec
from recbole_unisrec.model.unisrec import UniSRec
from recbole_unisrec.model.text_baselines import FDSAText, S3RecText  # registers them in TEXT_MODELS
from recbole_unisrec.registry import TEXT_MODELS

TEXT_MODELS.update({"UniSRec"})

__all__ = ["UniSRec", "FDSAText", "S3RecText", "SASRec"]
