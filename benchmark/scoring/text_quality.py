"""Sample-quality metrics for generated lyrics: diversity, rhyme and vocabulary fit.

A model adapted to one artist generates ``samples``; the artist's held-out songs are the
``references``.  Every metric works on the word tokens of :func:`words`; lines are the
pieces of a text split on ``"\\n"``.  Each metric returns ``nan`` when it is undefined
(no n-grams, no scorable rhyme pairs, ...), never a made-up value.

=================  ========  ===================================================
metric             range     better
=================  ========  ===================================================
distinct_1/2       0..1      higher (more diverse)
self_bleu          0..1      lower (samples less alike each other)
rhyme_density      0..1      closer to the artist's own value (``*_reference``)
word_js_bits       0..1      lower (vocabulary closer to the artist's)
=================  ========  ===================================================
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pronouncing
from sacrebleu.metrics import BLEU

from benchmark.scoring.divergence import js_bits

DIRECTIONS = {
    "distinct_1": "higher",
    "distinct_2": "higher",
    "self_bleu": "lower",
    "rhyme_density": "closer to rhyme_density_reference",
    "word_js_bits": "lower",
}

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})


def words(text: str) -> list[str]:
    """Case-folded word tokens of ``text``.

    A word is a run of Unicode letters or digits, possibly joined by inner apostrophes,
    typographic ones (U+2019, U+02BC, U+2018) read as ``'`` (``"Don’t"`` -> ``"don't"``);
    punctuation, underscores and outer quotes are dropped.
    """
    return _WORD.findall(text.translate(_APOSTROPHES).casefold())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct word n-grams / all word n-grams.

    N-grams are taken within each text (across its lines, never across texts) and pooled
    over all texts.  Range (0, 1]; higher = more diverse.  ``nan`` if there are no n-grams.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams = [tuple(tokens[i : i + n]) for tokens in map(words, texts) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


def self_bleu(texts: Sequence[str], max_order: int = 4) -> float:
    """Self-BLEU (Zhu et al. 2018, Texygen), on the 0..1 scale (sacreBLEU's score / 100).

    The mean over ``i`` of the sentence BLEU of ``texts[i]`` against all other texts as
    references.  BLEU is sacreBLEU's, on the tokens of :func:`words` (``tokenize="none"``),
    with n-gram orders up to ``max_order``, ``effective_order=True`` (orders longer than the
    hypothesis are left out) and its default ``"exp"`` smoothing.  Range 0..1; lower = more
    diverse.  ``nan`` for fewer than 2 texts.
    """
    if len(texts) < 2:
        return math.nan
    bleu = BLEU(tokenize="none", max_ngram_order=max_order, effective_order=True)
    joined = [" ".join(words(t)) for t in texts]
    scores = [bleu.sentence_score(hyp, joined[:i] + joined[i + 1 :]).score / 100.0 for i, hyp in enumerate(joined)]
    return float(np.clip(np.mean(scores), 0.0, 1.0))  # sacreBLEU's 100.0 can exceed 1 by an ulp


@lru_cache(maxsize=None)
def _rhyming_parts(word: str) -> frozenset[str]:
    """The CMUdict rhyming parts of all pronunciations of ``word``; empty if not listed."""
    return frozenset(pronouncing.rhyming_part(p) for p in pronouncing.phones_for_word(word))


def _line_end_words(text: str) -> list[str]:
    """The last word of each line of ``text`` that has a word."""
    return [tokens[-1] for tokens in map(words, text.split("\n")) if tokens]


def _rhyme_counts(text: str) -> tuple[int, int]:
    """(rhyming pairs, scorable pairs) over line-end pairs at distance 1 and 2."""
    ends = _line_end_words(text)
    rhymes = scorable = 0
    for gap in (1, 2):
        for a, b in zip(ends, ends[gap:]):
            parts_a, parts_b = _rhyming_parts(a), _rhyming_parts(b)
            if not parts_a or not parts_b:
                continue
            scorable += 1
            rhymes += a != b and not parts_a.isdisjoint(parts_b)
    return rhymes, scorable


def rhyme_density(texts: Sequence[str]) -> float:
    """Fraction of nearby line-end word pairs that rhyme, pooled over ``texts``.

    For each text, the pairs are (line i, line i+1) and (line i, line i+2) of its lines
    that have words, using each line's last word.  A pair is scorable when both words are
    in the CMU pronouncing dictionary (others are skipped); it rhymes when the words differ
    and some pronunciations share ``pronouncing.rhyming_part`` (the phones from the last
    stressed vowel on).  A word repeated at both ends is scorable but not a rhyme.
    Range 0..1; more is not better: compare with :func:`rhyme_density_reference`.
    ``nan`` if no pair is scorable.
    """
    counts = [_rhyme_counts(t) for t in texts]
    rhymes = sum(r for r, _ in counts)
    scorable = sum(s for _, s in counts)
    return rhymes / scorable if scorable else math.nan


def rhyme_density_reference(references: Sequence[str]) -> float:
    """The artist's own :func:`rhyme_density`, the target for the samples' value.

    A report shows ``abs(rhyme_density(samples) - rhyme_density_reference(references))``;
    smaller is better.
    """
    return rhyme_density(references)


def word_js_divergence(samples: Sequence[str], references: Sequence[str]) -> float:
    """Jensen-Shannon divergence in bits between pooled word unigram distributions.

    ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2`` with ``M = (P + Q) / 2`` and base-2
    logarithms, where P and Q are the word frequencies of all samples and all references.
    Symmetric; range 0..1 (0: same distribution, 1: disjoint vocabularies); lower = closer
    to the artist's vocabulary.  ``nan`` if either side has no words.
    """
    p_counts = Counter(w for t in samples for w in words(t))
    q_counts = Counter(w for t in references for w in words(t))
    if not p_counts or not q_counts:
        return math.nan
    vocab = sorted(p_counts.keys() | q_counts.keys())
    return js_bits(np.array([p_counts[w] for w in vocab]), np.array([q_counts[w] for w in vocab]))


@dataclass(frozen=True)
class TextQuality:
    """All sample-quality figures for one set of samples; see :data:`DIRECTIONS`."""

    distinct_1: float
    distinct_2: float
    self_bleu: float
    rhyme_density: float
    rhyme_density_reference: float
    word_js_bits: float
    n_samples: int

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (JSON-ready apart from ``nan``)."""
        return asdict(self)


def text_quality(samples: Sequence[str], references: Sequence[str]) -> TextQuality:
    """Compute every metric of this module for ``samples`` against the artist's ``references``."""
    return TextQuality(
        distinct_1=distinct_n(samples, 1),
        distinct_2=distinct_n(samples, 2),
        self_bleu=self_bleu(samples),
        rhyme_density=rhyme_density(samples),
        rhyme_density_reference=rhyme_density_reference(references),
        word_js_bits=word_js_divergence(samples, references),
        n_samples=len(samples),
    )
