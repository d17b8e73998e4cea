"""Item text -> vectors: a frozen language model, random word drop, and per-data-set caches.

``EncoderSpec`` names the model (``"default"``: the offline all-MiniLM-L6-v2) and pooling;
``encode_texts`` encodes a list of texts; ``text_vectors`` returns a data set's cached table
(one row per line of ``<Name>.item2index``); ``word_drop`` makes the augmentation texts;
``vector_size`` reads the model's width from its config.
"""
from recbole_unisrec.text.cache import read_item_texts, text_vectors, vectors_path
from recbole_unisrec.text.encoder import (
    DEFAULT_MODEL,
    EncoderSpec,
    ModelLoadError,
    encode_texts,
    load_model,
    model_identity,
    vector_size,
)
from recbole_unisrec.text.word_drop import word_drop

__all__ = [
    "DEFAULT_MODEL",
    "EncoderSpec",
    "ModelLoadError",
    "encode_texts",
    "load_model",
    "model_identity",
    "read_item_texts",
    "text_vectors",
    "vector_size",
    "vectors_path",
    "word_drop",
]
