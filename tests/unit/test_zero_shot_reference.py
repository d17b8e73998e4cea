"""bench/zero_shot_reference.py: the last-item text baseline ranks by cosine with the last history item."""
import pytest
import torch
from bench_scripts import load_bench_script

reference = load_bench_script("zero_shot_reference")


def test_last_item_text_ranks_by_cosine_with_the_last_item_only():
    vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.1], [-1.0, 0.0]])  # row 0: padding
    model = reference.LastItemText(vectors)
    interaction = {"item_id_list": torch.tensor([[2, 1, 0], [1, 3, 0]]), "item_length": torch.tensor([2, 2])}

    scores = model.full_sort_predict(interaction)

    assert scores.shape == (2, 5)
    assert torch.argsort(scores[0], descending=True)[:2].tolist() == [1, 3]      # last item 1; item 2 before it counts for nothing
    assert scores[0, 2].item() == 0.0 and scores[0, 4].item() == pytest.approx(-1.0)
    assert torch.argsort(scores[1], descending=True)[:3].tolist() == [3, 2, 1]   # last item 3, the padding after it ignored
