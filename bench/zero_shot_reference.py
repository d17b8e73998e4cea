"""The zero-shot references a pre-trained UniSRec must beat: an untrained UniSRec (seed-2020
initialisation) and plain text similarity (every item scored by the cosine of its text vector with
the history's last item's, no model), full ranking, as `python -m recbole_unisrec evaluate` ranks.

    OMP_NUM_THREADS=1 python bench/zero_shot_reference.py                     # Scientific, Office, ML-1M: valid and test
    OMP_NUM_THREADS=1 python bench/zero_shot_reference.py Beauty Toys Games    # other data sets: valid only
"""
import sys

import torch
import torch.nn.functional as F
from recbole.utils import init_seed

import recbole_unisrec  # noqa: F401
from recbole_unisrec.config import Config
from recbole_unisrec.data.layout import SHIPPED_DATA
from recbole_unisrec.evaluation import ZeroShotTarget, evaluate_zero_shot, zero_shot_target
from recbole_unisrec.registry import get_model

INIT_SEED = 2020  # the seed every pre-training run here started from


class LastItemText(torch.nn.Module):
    """Scores every item by the cosine of its text vector with the history's last item's."""

    def __init__(self, vectors):
        super().__init__()
        self.register_buffer("text_vectors", vectors)
        self.train_stage, self.dummy = "inductive_ft", torch.nn.Parameter(torch.zeros(1))

    def full_sort_predict(self, interaction):
        seq, length = interaction["item_id_list"], interaction["item_length"]
        last = self.text_vectors[seq[torch.arange(len(seq)), length - 1]]
        return F.normalize(last, dim=-1) @ F.normalize(self.text_vectors, dim=-1).T


def untrained_network(name: str, split: str) -> tuple[torch.nn.Module, ZeroShotTarget]:
    """The seed-2020 UniSRec, as every pre-training run here starts (the step-0 row of the transfer
    CSVs that have one), and ``name``'s ``split`` to rank it on."""
    config = Config(model="UniSRec", dataset=name, config_dict={"train_stage": "inductive_ft", "use_gpu": False})
    target = zero_shot_target(name, split, config, SHIPPED_DATA)
    init_seed(INIT_SEED, True)
    return get_model("UniSRec")(config, target.loader._dataset), target


def main(names: list[str]) -> None:
    for name in names or ("Scientific", "Office", "ML-1M"):
        for split in ("valid",) if names else ("valid", "test"):
            model, target = untrained_network(name, split)
            untrained = evaluate_zero_shot(model, target)
            text = evaluate_zero_shot(LastItemText(target.text_vectors.clone()), target)
            print(name, split, "untrained UniSRec", {k: round(v, 4) for k, v in untrained.items()})
            print(name, split, "last-item text cosine", {k: round(v, 4) for k, v in text.items()})


if __name__ == "__main__":
    main(sys.argv[1:])
