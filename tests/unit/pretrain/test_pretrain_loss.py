"""The pre-training loss: equal to a slow direct computation, same-item negatives masked, no overflow."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pretrain_fixtures import NO_RANDOMNESS, build
from recbole.data.interaction import Interaction

from recbole_unisrec.data.dataloader import TARGETS_FIELD
from recbole_unisrec.data.pretrain_loader import (
    AUG_LENGTH, AUG_POSITIONS, AUG_ROWS, PRETRAIN_VECTORS, ROW_USERS, SEQ_ROWS, TARGET_ROWS,
)
from recbole_unisrec.model.unisrec import _masked_cross_entropy


def _encode_alone(model, vectors: torch.Tensor) -> torch.Tensor:
    """The sequence representation of one sequence of text vectors, encoded on its own."""
    return model.encode_positions(model.moe_adaptor(vectors).unsqueeze(0))[0, -1]


def _reference_terms(model, batch, index, draws, plm, word) -> tuple[float, float]:
    """Both terms, one prefix at a time, in float64 with math.exp / math.log; a candidate with the
    query's next item or of the query's own user is no negative."""
    keep, item_drop, word_drop = draws
    sequences, items, views, ids, users = [], [], [], [], []
    for row, source in enumerate(index):
        for t in range(int(batch["item_length"][row])):
            target = int(batch[TARGETS_FIELD][row, t])
            if not target:
                continue
            prefix = batch["item_id_list"][row, :t + 1]
            kept = torch.from_numpy(keep[source, :t + 1].copy())
            kept[0] = True
            if item_drop[source]:
                augmented = plm[prefix[kept]]
            else:
                augmented = torch.where(torch.from_numpy(word_drop[source, :t + 1])[:, None], word[prefix], plm[prefix])
            sequences.append(F.normalize(_encode_alone(model, plm[prefix]), dim=0).double())
            items.append(F.normalize(model.moe_adaptor(plm[target]), dim=0).double())
            views.append(F.normalize(_encode_alone(model, augmented), dim=0).double())
            ids.append(target)
            users.append(int(batch[ROW_USERS][row]))
    tau = model.temperature
    totals = []
    for candidates in (items, views):
        total = 0.0
        for i, query in enumerate(sequences):
            positive = math.exp(float(query @ candidates[i]) / tau)
            others = sum(math.exp(float(query @ candidates[j]) / tau) for j in range(len(ids))
                         if j != i and ids[j] != ids[i] and users[j] != users[i])
            total += -math.log(positive / (positive + others))
        totals.append(total / len(ids))
    return totals[0], totals[1]


def test_loss_equals_slow_reference(corpus_root) -> None:
    _, dataset, loader, model = build(corpus_root, item_drop_coefficient=0.5, item_drop_ratio=0.4, **NO_RANDOMNESS)
    model.eval()  # no dropout, no gate noise: the same vectors both ways
    loader._prepare_draws(0)
    plm, word = dataset.plm_embedding.weight, dataset.word_drop_embedding.weight
    batches = loader.global_batches(0)
    index = np.concatenate(batches[:3])  # a few lengths, both domains, repeated next items
    batch = loader.collate_fn(index)
    ids = batch[TARGETS_FIELD][batch[TARGETS_FIELD] > 0]
    assert len(ids) > len(torch.unique(ids)), "the batch should hold repeated next items (masked negatives)"
    assert len(torch.unique(dataset.item_domain[ids])) == 2, "the batch should mix both domains"
    with torch.no_grad():
        seq_item, seq_seq = model.pretrain_terms(batch)
        total = model.pretrain_loss(batch)
        reference = _reference_terms(model, batch, index, loader._draws, plm, word)
    assert math.isclose(float(seq_item), reference[0], rel_tol=1e-4)
    assert math.isclose(float(seq_seq), reference[1], rel_tol=1e-4)
    assert math.isclose(float(total), reference[0] + model.lam * reference[1], rel_tol=1e-4)


def test_changing_masked_logits_leaves_the_loss_unchanged() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([3, 5, 3, 7, 5, 3])
    positives = torch.arange(6)
    masked = (ids[:, None] == ids[None, :]) & ~torch.eye(6, dtype=torch.bool)
    loss = _masked_cross_entropy(logits, positives, masked)
    loss.backward()
    assert torch.all(logits.grad[masked] == 0)
    changed = logits.detach().clone()
    changed[masked] = torch.tensor([1e4, -1e4, 50.0, float("nan"), 3.0, 0.0, 7.0, -2.0, 9.0, 1.0, 4.0, 8.0],
                                   dtype=torch.float64)[: int(masked.sum())]
    assert torch.equal(_masked_cross_entropy(changed, positives, masked), loss.detach())
    unmasked = logits.detach().clone()
    unmasked[0, 3] += 1.0  # a real negative does count
    assert not torch.equal(_masked_cross_entropy(unmasked, positives, masked), loss.detach())


def _two_sequence_batch(plm: torch.Tensor, first_target: int, second_target: int, users: tuple[int, int] = (1, 2)) -> Interaction:
    """Sequences (1, 2) and (3, 4) of ``users``, their next items given; no augmentation (views = sequences)."""
    vectors = plm[[0, 1, 2, 3, 4, first_target, second_target]]
    seq_rows = torch.tensor([[1, 2], [3, 4]])
    return Interaction({
        "item_id_list": torch.tensor([[1, 2], [3, 4]]),
        "item_length": torch.tensor([2, 2]),
        TARGETS_FIELD: torch.tensor([[0, first_target], [0, second_target]]),
        PRETRAIN_VECTORS: vectors,
        SEQ_ROWS: seq_rows,
        TARGET_ROWS: torch.tensor([[0, 5], [0, 6]]),
        AUG_ROWS: seq_rows,
        AUG_LENGTH: torch.tensor([2, 2]),
        AUG_POSITIONS: torch.tensor([[0, 1], [0, 1]]),
        ROW_USERS: torch.tensor(users),
    })


@torch.no_grad()
def _two_candidate_terms(model, plm, first: list[int], second: list[int], first_target: int,
                         second_target: int) -> tuple[float, float]:
    """Both terms of :func:`_two_sequence_batch` (two users, unaugmented views) computed directly:
    each sequence has one negative, the other's next item (seq-item) or the other sequence (seq-seq);
    -log(e^a / (e^a + e^b)) = log(1 + e^(b - a)). The terms are small (1e-5 to 1e-3) and the model
    computes them in float32 from logits near 1 / temperature = 14: compared to about 1e-6."""
    queries = [F.normalize(_encode_alone(model, plm[rows]), dim=0).double() for rows in (first, second)]
    items = [F.normalize(model.moe_adaptor(plm[target]), dim=0).double() for target in (first_target, second_target)]
    tau = model.temperature
    terms = []
    for candidates in (items, queries):  # the views are the sequences themselves
        terms.append(sum(math.log1p(math.exp(float(queries[i] @ candidates[1 - i] - queries[i] @ candidates[i]) / tau))
                         for i in (0, 1)) / 2)
    return terms[0], terms[1]


@pytest.mark.parametrize("masked, kept", [
    ((5, 5, (1, 2)), (5, 6, (1, 2))),  # the same next item is no negative
    ((5, 6, (7, 7)), (5, 6, (7, 8))),  # nor is a sequence of one's own user (a packed row's prefixes, two windows)
], ids=["same next item", "same user"])
def test_masked_candidate_is_no_negative(corpus_root, masked, kept) -> None:
    """Two sequences whose only other candidate is masked: both terms are exactly zero; with the
    candidate kept, each term is the mean of softplus((other - own score) / temperature)."""
    _, dataset, _, model = build(corpus_root, **NO_RANDOMNESS)
    model.eval()
    plm = dataset.plm_embedding.weight
    (first, second, users), (kept_first, kept_second, kept_users) = masked, kept
    with torch.no_grad():
        zero = model.pretrain_terms(_two_sequence_batch(plm, first, second, users=users))
        terms = model.pretrain_terms(_two_sequence_batch(plm, kept_first, kept_second, users=kept_users))
    assert float(zero[0]) == 0.0 and float(zero[1]) == 0.0
    assert float(terms[0]) > 0.0 and float(terms[1]) > 0.0
    expected = _two_candidate_terms(model, plm, [1, 2], [3, 4], kept_first, kept_second)
    assert math.isclose(float(terms[0]), expected[0], rel_tol=1e-3, abs_tol=1e-6)
    assert math.isclose(float(terms[1]), expected[1], rel_tol=1e-3, abs_tol=1e-6)


def test_loader_batches_name_each_rows_user(corpus_root) -> None:
    _, _, loader, _ = build(corpus_root)
    batch = next(iter(loader))
    users = batch[ROW_USERS]
    feat = loader._dataset.inter_feat
    for row in range(len(users)):
        length = int(batch["item_length"][row])
        history = batch["item_id_list"][row, :length]
        rows_of_user = feat["user_id"] == users[row]
        first_items = feat["item_id_list"][rows_of_user][:, 0]
        assert bool((first_items == history[0]).any()), "the row's first item is one of its user's histories"


def test_tiny_temperature_does_not_overflow(corpus_root) -> None:
    _, _, loader, model = build(corpus_root, temperature=1e-6)
    batch = next(iter(loader))
    loss = model.pretrain_loss(batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("per_occurrence", [True, False])
def test_adaptor_runs_per_occurrence_or_per_distinct_item(corpus_root, per_occurrence: bool) -> None:
    """As the original code: one adaptor pass (own dropout mask, own gate noise) for every input
    slot, every target and every augmented slot; or one per distinct vector of the batch."""
    _, _, loader, model = build(corpus_root, adaptor_per_occurrence=per_occurrence)
    batch = next(iter(loader))
    rows_seen = []
    original = model.moe_adaptor.forward
    model.moe_adaptor.forward = lambda x: rows_seen.append(x.reshape(-1, x.shape[-1]).shape[0]) or original(x)
    model.pretrain_terms(batch)
    if per_occurrence:
        slots = int(batch["item_length"].sum()), int((batch[TARGETS_FIELD] > 0).sum()), int(batch[AUG_LENGTH].sum())
        assert rows_seen == list(slots)
    else:
        assert rows_seen == [len(batch[PRETRAIN_VECTORS])]


def test_logq_correction_subtracts_each_candidates_log_share(corpus_root) -> None:
    from recbole_unisrec.data.pretrain_loader import TARGET_LOG_FREQ
    from recbole_unisrec.model.unisrec import _contrastive_terms

    _, _, loader, _ = build(corpus_root, pretrain_logq_correction=True)
    batch = next(iter(loader))
    all_targets = loader.rows.targets[loader.rows.targets > 0]
    ids = batch[TARGETS_FIELD][batch[TARGETS_FIELD] > 0]
    expected = np.log([(all_targets == int(i)).sum() / len(all_targets) for i in ids])
    assert np.allclose(batch[TARGET_LOG_FREQ].numpy(), expected, rtol=1e-6)

    generator = torch.Generator().manual_seed(3)
    sequences, items, views = (F.normalize(torch.randn(4, 8, generator=generator, dtype=torch.float64), dim=-1) for _ in range(3))
    log_freq = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64))
    ids, users = torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 3, 4])
    corrected, seq_seq = _contrastive_terms(sequences, items, views, ids, users, 0.1, log_freq)
    logits = sequences @ items.T / 0.1 - log_freq[None, :]
    assert torch.isclose(corrected, F.cross_entropy(logits, torch.arange(4)), rtol=1e-12)
    assert torch.equal(seq_seq, _contrastive_terms(sequences, items, views, ids, users, 0.1)[1])  # seq-seq untouched


def _domain_reference(model, batch, plm, item_domain) -> float:
    """Mean over targets of -log softmax over every item of the target's domain, one target at a
    time in float64: the seq-item term of ``pretrain_item_candidates=domain``."""
    total, count = 0.0, 0
    for row in range(len(batch["item_length"])):
        for t in range(int(batch["item_length"][row])):
            target = int(batch[TARGETS_FIELD][row, t])
            if not target:
                continue
            query = F.normalize(_encode_alone(model, plm[batch["item_id_list"][row, :t + 1]]), dim=0).double()
            domain_items = [i for i in range(1, len(item_domain)) if item_domain[i] == item_domain[target]]
            scores = {i: math.exp(float(query @ F.normalize(model.moe_adaptor(plm[i]), dim=0).double()) / model.temperature)
                      for i in domain_items}
            total += -math.log(scores[target] / sum(scores.values()))
            count += 1
    return total / count


def test_domain_candidates_are_a_full_softmax_over_the_targets_domain(corpus_root) -> None:
    _, dataset, loader, model = build(corpus_root, pretrain_item_candidates="domain", **NO_RANDOMNESS)
    _, _, _, in_batch = build(corpus_root, **NO_RANDOMNESS)
    in_batch.load_state_dict(model.state_dict())
    model.eval(), in_batch.eval()
    batch = loader.collate_fn(np.concatenate(loader.global_batches(0)[:3]))
    ids = batch[TARGETS_FIELD][batch[TARGETS_FIELD] > 0]
    assert len(torch.unique(dataset.item_domain[ids])) == 2, "the batch should mix both domains"
    with torch.no_grad():
        seq_item, seq_seq = model.pretrain_terms(batch)
        batch_item, batch_seq = in_batch.pretrain_terms(batch)
        reference = _domain_reference(model, batch, dataset.plm_embedding.weight, dataset.item_domain.tolist())
    assert math.isclose(float(seq_item), reference, rel_tol=1e-4)
    assert not math.isclose(float(seq_item), float(batch_item), rel_tol=1e-2)
    assert torch.equal(seq_seq, batch_seq)  # the seq-seq task keeps its in-batch views


def test_domain_candidates_need_domains_and_no_logq(corpus_root) -> None:
    with pytest.raises(ValueError, match="pretrain_item_candidates must be one of batch, domain; got 'all'"):
        build(corpus_root, pretrain_item_candidates="all")
    with pytest.raises(ValueError, match="does not apply to pretrain_item_candidates=domain"):
        build(corpus_root, pretrain_item_candidates="domain", pretrain_logq_correction=True)
