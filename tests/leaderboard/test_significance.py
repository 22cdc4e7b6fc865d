"""The paired tests and the Benjamini-Hochberg correction of `leaderboard.significance`,
against scipy, textbook figures and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from leaderboard import significance
from leaderboard.significance import PairedTest, benjamini_hochberg, paired_test

# Student (1908) / R's `sleep`: extra hours of sleep of the same 10 patients on two drugs.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

# Benjamini & Hochberg (1995), section 4: 15 p-values, 4 rejected at FDR 0.05.
BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def brute_force_p(d: list[float]) -> float:
    """Fraction of all sign vectors whose |mean| reaches the observed one, one at a time."""
    observed = abs(sum(d)) / len(d)
    hits = [
        abs(sum(s * x for s, x in zip(signs, d))) / len(d) >= observed - 1e-9
        for signs in itertools.product((1, -1), repeat=len(d))
    ]
    return sum(hits) / len(hits)


def with_t(t: float, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-episode scores (nats/token) a, b whose paired t statistic is exactly ``t``."""
    rng = np.random.default_rng(seed)
    b = 3.0 + 0.5 * rng.normal(size=n)
    e = rng.normal(size=n)
    e = 0.1 * (e - e.mean()) / e.std(ddof=1)  # mean 0, sd 0.1 exactly
    return b + e + t * 0.1 / math.sqrt(n), b


def test_the_paired_t_test_is_students_on_the_sleep_data():
    result = paired_test(SLEEP_1, SLEEP_2)
    assert round(result.t_p_value, 4) == 0.0028  # the textbook p = 0.002833 (t = -4.0621, df = 9)
    assert result.t_p_value == pytest.approx(0.002833, abs=5e-7)
    assert result.t_p_value == pytest.approx(stats.ttest_rel(SLEEP_1, SLEEP_2).pvalue, rel=1e-12)
    assert result.delta == pytest.approx(-1.58)
    assert result.episodes == 10
    low, high = stats.ttest_rel(SLEEP_1, SLEEP_2).confidence_interval(0.95)
    assert result.ci95 == pytest.approx((high - low) / 2, rel=1e-12)  # textbook CI: -2.4599 to -0.7001
    assert result.delta - result.ci95 == pytest.approx(-2.4599, abs=1e-4)


@pytest.mark.parametrize("n", [2, 3, 7, 40])
def test_the_t_test_agrees_with_scipy(n):
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=n), rng.normal(0.3, 2.0, size=n)
    expected = stats.ttest_rel(a, b)
    result = paired_test(a, b)
    assert result.t_p_value == pytest.approx(expected.pvalue, rel=1e-10)
    assert result.delta == pytest.approx(float(np.mean(a - b)), rel=1e-12)
    low, high = expected.confidence_interval(0.95)
    assert result.ci95 == pytest.approx((high - low) / 2, rel=1e-10)


def test_the_exact_permutation_p_of_a_hand_example():
    # d = [1, 2, 3]: of the 8 sign vectors only +++ and --- reach |mean| = 2
    result = paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert result.permutation_p_value == 0.25
    assert result.permutations == 0
    # d = [1, 1, 1, 1]: +-++ etc. leave |mean| = 1/2 < 1, so again only 2 of 16
    assert paired_test([2.0] * 4, [1.0] * 4).permutation_p_value == 2 / 16
    # d = [1, -1]: every sign vector reaches |mean| = 0
    assert paired_test([1.0, 0.0], [0.0, 1.0]).permutation_p_value == 1.0


def test_the_exact_permutation_p_of_the_sleep_data_is_brute_forces():
    result = paired_test(SLEEP_1, SLEEP_2)  # 2**10 = 1024 <= 10_000: enumerated
    assert result.permutations == 0
    expected = brute_force_p([x - y for x, y in zip(SLEEP_1, SLEEP_2)])
    assert result.permutation_p_value == pytest.approx(expected, abs=1e-15)
    assert result.permutation_p_value == 4 / 1024  # the observed signs, their mirror, times the 0 difference's two


def test_ties_count_despite_rounding():
    # every |0.01 - 2 x (sum of a subset)| is >= 0.01, so all 16 sign vectors reach the observed
    # |sum| = 0.01; but 0.1 + 0.2 != 0.3 in floating point, so some land a few ulps below it
    d = [0.1, 0.2, -0.3, 0.01]
    assert paired_test(d, [0.0] * 4).permutation_p_value == brute_force_p(d) == 1.0


def test_enumeration_is_used_up_to_the_permutation_count():
    a, b = with_t(1.0, n=13)
    assert paired_test(a, b, permutations=2**13).permutations == 0
    drawn = paired_test(a, b, permutations=2**13 - 1)
    assert drawn.permutations == 2**13 - 1
    assert paired_test(a, b, permutations=2**13).permutation_p_value == pytest.approx(brute_force_p(list(a - b)))


def test_the_random_branch_draws_its_documented_signs():
    a, b = with_t(1.3, n=30)
    result = paired_test(a, b, permutations=5000, seed=3)
    d = a - b
    signs = np.where(np.random.default_rng(3).random((5000, 30)) < 0.5, 1.0, -1.0)
    count = int(np.sum(np.abs(signs @ d) >= abs(d.sum()) * (1 - 1e-9)))
    assert result.permutations == 5000
    assert result.permutation_p_value == (1 + count) / (1 + 5000)


def test_the_random_branch_is_deterministic_and_varies_a_little_with_the_seed():
    a, b = with_t(1.3)  # t-test p ~ 0.195: room both ways for Monte Carlo noise
    first = paired_test(a, b, seed=0)
    assert paired_test(a, b, seed=0) == first
    other = paired_test(a, b, seed=1)
    assert other.permutation_p_value != first.permutation_p_value
    assert abs(other.permutation_p_value - first.permutation_p_value) < 0.03  # sd of each ~ 0.004
    assert first.t_p_value == other.t_p_value


def test_chunking_does_not_change_the_result(monkeypatch):
    a, b = with_t(1.3, n=40)
    small_a, small_b = with_t(1.3, n=11)
    drawn, exact = paired_test(a, b, permutations=3000, seed=5), paired_test(small_a, small_b)
    monkeypatch.setattr(significance, "CHUNK_ENTRIES", 97)  # 2 sign vectors of 40 a chunk, 8 of 11
    assert paired_test(a, b, permutations=3000, seed=5) == drawn
    assert paired_test(small_a, small_b) == exact
    assert exact.permutations == 0 and drawn.permutations == 3000


def test_the_permutation_test_agrees_with_the_t_test_on_large_normal_data():
    shifted = paired_test(*with_t(5.0))  # t = 5, n = 200
    assert shifted.permutations == 10_000
    assert shifted.t_p_value < 0.01 and shifted.permutation_p_value < 0.01
    assert shifted.permutation_p_value == pytest.approx(1 / 10_001)  # no random flip reaches t = 5
    null = paired_test(*with_t(0.3))  # t = 0.3: p ~ 0.76
    assert null.t_p_value > 0.05 and null.permutation_p_value > 0.05
    assert null.permutation_p_value == pytest.approx(null.t_p_value, abs=0.03)
    assert null.t_p_value == pytest.approx(2 * stats.t.sf(0.3, 199), rel=1e-9)


@pytest.mark.parametrize("n", [3, 20])  # enumerated, then drawn
def test_all_zero_differences_are_not_significant(n):
    scores = list(np.linspace(2.0, 4.0, n))
    result = paired_test(scores, scores)
    assert result == PairedTest(
        delta=0.0, ci95=0.0, episodes=n, t_p_value=1.0, permutation_p_value=1.0, permutations=0 if n == 3 else 10_000
    )


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy's, on the constant differences
def test_constant_differences_are_as_significant_as_their_signs_allow():
    result = paired_test([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert result.t_p_value == stats.ttest_rel([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0]).pvalue == 0.0
    assert result.permutation_p_value == 2 / 16
    assert result.ci95 == 0.0


@pytest.mark.parametrize(
    "a, b, message",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "a has 3 episodes, b has 2"),
        ([1.0], [2.0], "1 pair"),
        ([], [], "0 pair"),
        ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], "1-D"),
        ([1.0, math.nan], [1.0, 2.0], "non-finite"),
    ],
)
def test_bad_pairs_are_refused(a, b, message):
    with pytest.raises(ValueError, match=message) as error:
        paired_test(a, b)
    assert "\n" not in str(error.value)


def test_a_permutation_count_below_one_is_refused():
    with pytest.raises(ValueError, match="permutations=0"):
        paired_test(SLEEP_1, SLEEP_2, permutations=0)


def test_bh_is_scipys_on_the_1995_example():
    q = benjamini_hochberg(BH_1995)
    assert q == pytest.approx(list(stats.false_discovery_control(BH_1995, method="bh")), rel=1e-12)
    assert [i for i, v in enumerate(q) if v <= 0.05] == [0, 1, 2, 3]
    # by hand: q_(k) = min_{j>=k} 15 p_(j) / j
    assert q[:5] == pytest.approx([15 * 0.0001, 15 * 0.0004 / 2, 15 * 0.0019 / 3, 15 * 0.0095 / 4, 15 * 0.0201 / 5])
    assert q[-1] == 1.0


def test_bh_is_scipys_in_the_input_order_with_ties_and_caps():
    p = [0.04, 0.001, 0.5, 0.04, 0.03, 0.9, 0.001, 1.0, 0.2, 0.0]
    q = benjamini_hochberg(p)
    assert q == pytest.approx(list(stats.false_discovery_control(p, method="bh")), rel=1e-12)
    assert q[1] == q[6] and q[0] == q[3]  # tied p, tied q
    assert all(qi >= pi for qi, pi in zip(q, p)) and max(q) <= 1.0
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(np.asarray(q)[order]) >= 0)  # monotone in p
    rng = np.random.default_rng(0)
    for size in (1, 2, 17, 300):
        p = rng.beta(0.3, 1.0, size=size)
        assert benjamini_hochberg(p) == pytest.approx(list(stats.false_discovery_control(p, method="bh")), rel=1e-12)


def test_bh_leaves_nan_out_of_m():
    p = [0.01, math.nan, 0.04, 0.03, math.nan]
    q = benjamini_hochberg(p)
    assert math.isnan(q[1]) and math.isnan(q[4])
    known = [q[0], q[2], q[3]]
    assert known == pytest.approx(list(stats.false_discovery_control([0.01, 0.04, 0.03], method="bh")))
    assert known == pytest.approx([0.03, 0.04, 0.04])  # m = 3, not 5
    assert benjamini_hochberg([]) == []
    assert all(math.isnan(v) for v in benjamini_hochberg([math.nan, math.nan]))


@pytest.mark.parametrize("p", [[0.5, 1.2], [-0.1], [[0.1, 0.2]]])
def test_bh_refuses_what_is_not_a_list_of_p_values(p):
    with pytest.raises(ValueError, match="benjamini_hochberg"):
        benjamini_hochberg(p)
