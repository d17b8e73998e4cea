"""What a recommendation returns: the ranked items of one history."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Recommendation:
    """One recommended item. ``score``: cosine similarity / temperature (the model's logit).
    ``text_only``: the item has no learned ID vector (always true for a text-only model)."""

    item_id: str
    score: float
    text: str
    text_only: bool


@dataclass(frozen=True)
class RecommendationList(Sequence):
    """The ranked items for one history (best first), and which history items were text only."""

    items: tuple[Recommendation, ...]
    history_text_only: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | slice) -> Recommendation | tuple[Recommendation, ...]:
        return self.items[index]

    @property
    def ids(self) -> list[str]:
        return [item.item_id for item in self.items]

    @property
    def scores(self) -> list[float]:
        return [item.score for item in self.items]
