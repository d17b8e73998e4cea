import pytest

from recbole_unisrec.text import word_drop

TEXTS = [
    "PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll. Industrial & Scientific.",
    "Digital caliper. Measuring tools. Neiko.",
    "single",
    "two words",
]


def test_same_seed_same_result_other_seed_other_result():
    long = [" ".join(f"w{i}" for i in range(200))] * 3
    assert word_drop(long, 0.3, seed=7) == word_drop(long, 0.3, seed=7)
    assert word_drop(long, 0.3, seed=7) != word_drop(long, 0.3, seed=8)


def test_ratio_zero_is_identity_whitespace_included():
    texts = TEXTS + ["  odd   spacing\tkept "]
    assert word_drop(texts, 0.0, seed=1) == texts


def test_kept_words_are_an_ordered_subset_and_at_least_one():
    for ratio in (0.15, 0.9, 0.999):
        dropped = word_drop(TEXTS * 50, ratio, seed=3)
        assert len(dropped) == len(TEXTS) * 50
        for original, result in zip(TEXTS * 50, dropped):
            words = result.split()
            assert len(words) >= 1
            source = iter(original.split())
            assert all(word in source for word in words)  # subsequence, order kept


def test_drop_share_close_to_ratio():
    text = " ".join(f"w{i}" for i in range(20000))
    kept = len(word_drop([text], 0.15, seed=2022)[0].split())
    assert abs(1 - kept / 20000 - 0.15) < 0.01


def test_empty_text_stays_and_bad_ratio_refused():
    assert word_drop(["", "a b"], 0.5, seed=0)[0] == ""
    for ratio in (-0.1, 1.0, 2):
        with pytest.raises(ValueError, match="ratio"):
            word_drop(TEXTS, ratio, seed=0)
