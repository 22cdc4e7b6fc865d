"""Tests for benchmark.scoring.text_quality, with expected values worked out by hand."""

from __future__ import annotations

import dataclasses
import math

import pytest

from benchmark.scoring.text_quality import (
    DIRECTIONS,
    TextQuality,
    distinct_n,
    rhyme_density,
    rhyme_density_reference,
    self_bleu,
    text_quality,
    word_js_divergence,
    words,
)


def test_words_casefolds_and_keeps_inner_apostrophes():
    assert words("Don't STOP, 'til_the end!\nCafé 42") == [
        "don't",
        "stop",
        "til",
        "the",
        "end",
        "café",
        "42",
    ]
    # a typographic apostrophe joins like a straight one: no stray "t" (in CMUdict as T IY1,
    # which would "rhyme" with "me")
    assert words("I know you don\u2019t") == ["i", "know", "you", "don't"]
    assert rhyme_density(["I know you don\u2019t\nyou see me"]) == rhyme_density(["I know you don't\nyou see me"])


def test_distinct_n_by_hand():
    texts = ["the cat the cat", "the dog"]
    # unigrams: the cat the cat the dog -> 6 total, {the, cat, dog} distinct
    assert distinct_n(texts, 1) == pytest.approx(3 / 6)
    # bigrams within texts only: (the cat) (cat the) (the cat) | (the dog) -> 3 of 4
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    assert math.isnan(distinct_n(["one", ""], 2))
    with pytest.raises(ValueError):
        distinct_n(texts, 0)


def test_self_bleu_identical_vs_different():
    line = "the quick brown fox jumps over the lazy dog"
    assert 0.999 < self_bleu([line, line, line]) <= 1.0
    different = [line, "a slow green turtle sleeps under the warm sun", "rain falls on empty streets tonight"]
    assert self_bleu(different) < 0.2
    partly = [line, "the quick brown fox sleeps under the warm sun", "rain falls on empty streets tonight"]
    assert self_bleu(different) < self_bleu(partly) < 1.0
    assert math.isnan(self_bleu([line]))
    assert math.isnan(self_bleu([]))


def test_rhyme_density_by_hand():
    # ends cat hat dog log; pairs at gap 1: cat-hat Y, hat-dog N, dog-log Y; gap 2:
    # cat-dog N, hat-log N -> 2 / 5
    text = "I saw a cat\nwearing a hat\nnext to a dog\nsitting on a log"
    assert rhyme_density([text]) == pytest.approx(2 / 5)


def test_rhyme_density_identical_words_are_not_rhymes():
    # cat-cat (scorable, not a rhyme), cat-hat Y, cat-hat Y (gap 2) -> 2 / 3
    assert rhyme_density(["cat\ncat\nhat"]) == pytest.approx(2 / 3)
    assert rhyme_density(["cat\ncat"]) == 0.0


def test_rhyme_density_skips_unknown_words_and_empty_lines():
    # xqzzv is not in CMUdict: only cat-hat (gap 2) is scorable; blank lines are ignored
    assert rhyme_density(["the cat\n\nxqzzv\n  \nthe hat."]) == 1.0
    assert math.isnan(rhyme_density(["xqzzv\nblorptx\ncat"]))
    assert math.isnan(rhyme_density([]))


def test_rhyme_density_pools_over_texts():
    # text 1: cat-hat Y (1 of 1); text 2: dog-sun N (1 scorable); no pair across texts
    assert rhyme_density(["cat\nhat", "dog\nsun"]) == pytest.approx(1 / 2)
    assert rhyme_density_reference(["cat\nhat", "dog\nsun"]) == pytest.approx(1 / 2)


def test_word_js_divergence():
    a, b = ["red red blue"], ["Blue red, red!"]
    assert word_js_divergence(a, b) == pytest.approx(0.0, abs=1e-12)
    assert word_js_divergence(["red blue"], ["green yellow"]) == pytest.approx(1.0)
    p, q = ["a a a b"], ["b c"]
    assert word_js_divergence(p, q) == pytest.approx(word_js_divergence(q, p))
    # P = (3/4, 1/4, 0), Q = (0, 1/2, 1/2), M = (3/8, 3/8, 1/4) over (a, b, c)
    kl_pm = 3 / 4 * math.log2(2) + 1 / 4 * math.log2(2 / 3)
    kl_qm = 1 / 2 * math.log2(4 / 3) + 1 / 2 * math.log2(2)
    assert word_js_divergence(p, q) == pytest.approx((kl_pm + kl_qm) / 2)
    assert math.isnan(word_js_divergence([""], ["words"]))
    assert math.isnan(word_js_divergence(["words"], []))


def test_text_quality_returns_all_fields():
    samples = ["I saw a cat\nwearing a hat", "next to a dog\nsitting on a log"]
    references = ["the cat and the hat\nwent down the road", "a dog in the fog"]
    tq = text_quality(samples, references)
    assert isinstance(tq, TextQuality)
    d = tq.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(TextQuality)}
    assert set(DIRECTIONS) <= set(d)
    assert d["n_samples"] == 2
    assert d["distinct_1"] == pytest.approx(distinct_n(samples, 1))
    assert d["rhyme_density"] == pytest.approx(1.0)
    assert d["rhyme_density_reference"] == pytest.approx(0.0)  # hat-road only scorable pair
    assert 0.0 < d["word_js_bits"] < 1.0
    assert 0.0 <= d["self_bleu"] < 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        tq.n_samples = 3  # type: ignore[misc]
