"""Random word drop: the text side of UniSRec's sequence augmentation.

The paper keeps a second copy of every item's text vector, encoded from the text with a share of
its words dropped at random (ratio 0.15). :func:`word_drop` produces those texts, reproducibly.
"""
from __future__ import annotations

import numpy as np

#: Changes whenever :func:`word_drop` would give other texts for the same arguments; part of the
#: key of every cached word-dropped vector table.
WORD_DROP_VERSION = 1


def check_ratio(ratio: float) -> float:
    ratio = float(ratio)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"word drop ratio must be in [0, 1), got {ratio!r}")
    return ratio


def word_drop(texts: list[str], ratio: float, seed: int) -> list[str]:
    """Drop each whitespace-separated word with probability ``ratio``; keep at least one word.

    One ``numpy.random.Generator`` seeded by ``seed`` walks the texts in order, so the same
    texts, ratio and seed always give the same result. Where every word of a text would be
    dropped, one of its words (drawn from the same generator) is kept. ``ratio == 0`` returns
    the texts unchanged (whitespace included); otherwise the kept words are joined by single
    spaces. A text without words stays as it is.
    """
    ratio = check_ratio(ratio)
    texts = list(texts)
    if ratio == 0.0:
        return texts
    rng = np.random.default_rng(seed)
    dropped = []
    for text in texts:
        words = text.split()
        if not words:
            dropped.append(text)
            continue
        keep = rng.random(len(words)) >= ratio
        if not keep.any():
            keep[rng.integers(len(words))] = True
        dropped.append(" ".join(word for word, kept in zip(words, keep) if kept))
    return dropped
