"""The fixes of ``recbole_unisrec.compat`` hold once the package is imported."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import torch
from recbole.evaluator.collector import Collector, DataStruct

import recbole_unisrec  # noqa: F401  (applies the fixes)


def test_collector_hands_over_item_counts_beside_tensors() -> None:
    """RecBole 1.2.1 called ``.cpu()`` on the ``int`` item count and the ``Counter`` of item counts,
    so every metric needing them (ItemCoverage, AveragePopularity, ...) failed."""
    resources = DataStruct()
    resources.set("data.num_items", 37)
    resources.set("data.count_items", Counter({1: 4, 2: 1}))
    resources.set("rec.topk", torch.tensor([[1, 2, 1]]))
    collector = SimpleNamespace(data_struct=resources)

    handed = Collector.get_data_struct(collector)

    assert handed.get("data.num_items") == 37
    assert handed.get("data.count_items") == Counter({1: 4, 2: 1})
    assert torch.equal(handed.get("rec.topk"), torch.tensor([[1, 2, 1]]))
    assert handed.get("rec.topk").device.type == "cpu"
    assert "rec.topk" not in resources and "data.num_items" in resources  # per-evaluation results reset, data kept
