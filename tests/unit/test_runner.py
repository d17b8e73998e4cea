"""runner.epochs_trained and learning_curve: what a finished RecBole fit trained, which epoch it tests, its curve."""
from __future__ import annotations

from types import SimpleNamespace

from recbole_unisrec.runner import epochs_trained, learning_curve


def fitted(epochs: int, validations_since_best: int) -> SimpleNamespace:
    return SimpleNamespace(train_loss_dict={epoch: 1.0 for epoch in range(epochs)}, cur_step=validations_since_best)


def test_early_stopped_run() -> None:
    # stopping_step 10: the 11th validation without improvement stops epoch 69 of a best epoch 58
    assert epochs_trained(fitted(69, 11), eval_step=1) == (69, 58)


def test_run_that_reached_its_cap_while_improving() -> None:
    assert epochs_trained(fitted(20, 0), eval_step=1) == (20, 20)


def test_validation_every_few_epochs() -> None:
    # validations after epochs 3, 6, 9 (epoch 10 trained, not validated); the best was at 3
    assert epochs_trained(fitted(10, 2), eval_step=3) == (10, 3)


def test_no_validation() -> None:
    assert epochs_trained(fitted(5, 0), eval_step=0) == (5, None)
    assert epochs_trained(fitted(0, 0), eval_step=1) == (0, None)


def test_learning_curve_has_every_epoch_and_the_validated_scores() -> None:
    trainer = SimpleNamespace(train_loss_dict={2: 0.5, 0: 0.9, 1: 0.7})
    # eval_step 2: RecBole validated after epoch index 1 only; the curve counts epochs from 1
    assert learning_curve(trainer, [[1, 0.25]]) == [
        {"epoch": 1, "train_loss": 0.9, "valid_score": None},
        {"epoch": 2, "train_loss": 0.7, "valid_score": 0.25},
        {"epoch": 3, "train_loss": 0.5, "valid_score": None},
    ]
