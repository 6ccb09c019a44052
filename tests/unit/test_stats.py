"""The leaderboard's statistics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from tlbench.stats import (
    holm,
    mcnemar_exact,
    mean_ranks,
    paired_bootstrap,
    reduce,
    resample_indices,
    seed_summary,
    win_probability,
)


def correctness(n_seeds: int, n_items: int, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n_seeds, n_items, 1)) < accuracy).astype(float)


def test_t_interval_matches_the_textbook_formula():
    s = seed_summary([0.80, 0.82, 0.84])
    half = st.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    assert s.mean == pytest.approx(0.82) and s.sd == pytest.approx(0.02)
    assert (s.t_low, s.t_high) == pytest.approx((0.82 - half, 0.82 + half))
    assert 0.80 <= s.boot_low <= 0.82 <= s.boot_high <= 0.84
    assert s.as_dict()["values"] == [0.80, 0.82, 0.84]
    one = seed_summary([0.5])
    assert one.mean == 0.5 and np.isnan(one.t_low) and one.n == 1


def test_identical_predictions_differ_by_zero_with_p_one():
    a = correctness(3, 500, 0.8, seed=1)
    c = paired_bootstrap(a, a.copy(), "mean", resample_indices(500, 1000))
    assert (c.delta, c.low, c.high, c.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert c.verdict == "tie"
    assert mcnemar_exact(a[..., 0], a[..., 0]) == 1.0


def test_a_shifted_pair_gives_the_expected_interval():
    # the strategy is right on every item the baseline gets right, plus 10% of the items more
    n = 2000
    base = np.zeros((2, n, 1))
    base[:, : n // 2] = 1  # 50% right
    better = base.copy()
    better[:, n // 2: n // 2 + n // 10] = 1  # 60% right
    c = paired_bootstrap(better, base, "mean", resample_indices(n, 2000, seed=3))
    assert c.delta == pytest.approx(0.10)
    # the difference is the share of 200 "only the strategy is right" items in a resample of 2000:
    # binomial, sd = sqrt(0.1 * 0.9 / 2000) = 0.0067, so the 95% interval is 0.10 +- 0.013
    se = np.sqrt(0.1 * 0.9 / n)
    assert c.low == pytest.approx(0.10 - 1.96 * se, abs=0.003)
    assert c.high == pytest.approx(0.10 + 1.96 * se, abs=0.003)
    assert c.verdict == "better" and c.p_value < 0.001
    worse = paired_bootstrap(base, better, "mean", resample_indices(n, 2000, seed=3))
    assert worse.verdict == "worse" and worse.delta == pytest.approx(-0.10)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_items():
    a = np.array([[1, 1, 1, 0, 0, 1, 1, 1, 0, 1]])
    b = np.array([[1, 0, 0, 0, 1, 0, 1, 0, 0, 1]])
    # discordant: a only right on items 1, 2, 5, 7 (4); b only right on item 4 (1)
    by_hand = st.binomtest(4, 5, 0.5).pvalue
    assert mcnemar_exact(a, b) == pytest.approx(by_hand) == pytest.approx(0.375)


def test_holm_adjusts_step_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9, 0.6, 0.01]) == pytest.approx([0.6, 1.0, 1.0, 0.04])


def test_reducers_recompute_the_metric_from_item_statistics():
    counts = np.array([[2, 0, 1], [1, 1, 0], [0, 0, 1]])  # per sentence: tp, fp, fn
    assert reduce(counts, "f1") == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    pairs = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [4.0, 8.2]])
    assert reduce(pairs, "pearson") == pytest.approx(st.pearsonr(pairs[:, 0], pairs[:, 1]).statistic)
    binary = np.array([[1, 1], [0, 0], [1, 0], [0, 0], [1, 1], [0, 1]])
    from sklearn.metrics import matthews_corrcoef

    assert reduce(binary, "mcc") == pytest.approx(matthews_corrcoef(binary[:, 1], binary[:, 0]))


def test_win_probability_and_ranks():
    idx = resample_indices(1000, 500)
    from tlbench.stats import resampled_metric

    good, bad = correctness(2, 1000, 0.9, 1), correctness(2, 1000, 0.6, 2)
    wins = win_probability({"good": resampled_metric(good, "mean", idx),
                            "bad": resampled_metric(bad, "mean", idx)})
    assert wins["good"]["bad"] == 1.0 and wins["bad"]["good"] == 0.0
    scores = {"a": {"t1": 0.9, "t2": 0.5}, "b": {"t1": 0.9, "t2": 0.7}, "c": {"t1": 0.1}}
    ranks = mean_ranks(scores, ["t1", "t2"])
    assert ranks == {"a": pytest.approx((1.5 + 2) / 2), "b": pytest.approx((1.5 + 1) / 2), "c": None}
    assert mean_ranks(scores, ["t1", "t2"], allow_missing=True)["c"] == 3.0
