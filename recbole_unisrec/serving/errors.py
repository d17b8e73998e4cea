"""The errors of serving: bad input to the recommender, each with a one-line message."""
from __future__ import annotations


class ServingError(ValueError):
    """Bad input to the recommender; the message is one line."""


class EncoderMismatchError(ServingError):
    """The checkpoint's text encoder is not the one available here."""
