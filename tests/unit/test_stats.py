"""The leaderboard's statistics on cases with known answers. (The two-level bootstrap's coverage
simulations are tests/unit/test_bootstrap.py's.)"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from tlbench.bootstrap import TaskBootstrap, p_outperform
from tlbench.stats import REDUCERS, format_p, holm, mean_ranks, reduce, seed_summary


def correctness(n_seeds: int, n_items: int, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n_seeds, n_items, 1)) < accuracy).astype(float)


def test_t_interval_matches_the_textbook_formula_and_the_range_is_min_max():
    s = seed_summary([0.84, 0.80, 0.82])
    half = st.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    assert s.mean == pytest.approx(0.82) and s.sd == pytest.approx(0.02) and s.n == 3
    assert (s.t_low, s.t_high) == pytest.approx((0.82 - half, 0.82 + half))
    d = s.as_dict()
    assert d["values"] == [0.84, 0.80, 0.82]  # in seed order, not sorted
    assert d["range"] == [0.80, 0.84] and d["ci95_t"] == pytest.approx([0.82 - half, 0.82 + half])
    # no bootstrap over seeds: with 3 values a percentile "95%" interval would be the range
    assert set(d) == {"n", "values", "mean", "sd", "ci95_t", "range"}
    assert not any("boot" in k for k in d) and not hasattr(s, "boot_low")
    one = seed_summary([0.5])
    assert one.mean == 0.5 and np.isnan(one.t_low) and np.isnan(one.sd) and one.n == 1
    assert one.as_dict()["range"] == [0.5, 0.5]
    same = seed_summary([0.7, 0.7])
    assert (same.sd, same.t_low, same.t_high) == (0.0, 0.7, 0.7)


def test_identical_predictions_differ_by_zero_with_p_one():
    a = correctness(3, 500, 0.8, seed=1)
    boot = TaskBootstrap(500, n_resamples=1000)
    c = boot.compare(("a", a), ("b", a.copy()), "mean")
    # seeds that score differently leave seed uncertainty: an interval around 0, never a difference
    assert c.delta == 0.0 and c.p_value == 1.0 and c.testable
    assert c.low == pytest.approx(-c.high) and c.high > 0
    assert holm([c.p_value, 0.001]) == pytest.approx([1.0, 0.002])  # in any family: not better/worse
    # one model, copied: nothing varies, so the interval is [0, 0]
    fixed = np.repeat(a[:1], 3, axis=0)
    c = boot.compare(("c", fixed), ("d", fixed.copy()), "mean")
    assert (c.delta, c.low, c.high, c.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_shifted_pair_gives_the_expected_interval():
    # the strategy is right on every item the baseline gets right, plus 10% of the items more; each
    # strategy's seeds agree, so only the items vary
    n = 2000
    base = np.zeros((2, n, 1))
    base[:, : n // 2] = 1  # 50% right
    better = base.copy()
    better[:, n // 2: n // 2 + n // 10] = 1  # 60% right
    boot = TaskBootstrap(n, n_resamples=2000, seed=3)
    c = boot.compare(("better", better), ("base", base), "mean")
    assert c.delta == pytest.approx(0.10)
    # the difference is the share of 200 "only the strategy is right" items in a resample of 2000:
    # binomial, sd = sqrt(0.1 * 0.9 / 2000) = 0.0067, so the 95% interval is 0.10 +- 0.013
    se = np.sqrt(0.1 * 0.9 / n)
    assert c.se == pytest.approx(se, rel=0.05) and c.df > 1000  # no seed level: a normal quantile
    assert c.low == pytest.approx(0.10 - 1.96 * se, abs=0.003)
    assert c.high == pytest.approx(0.10 + 1.96 * se, abs=0.003)
    assert c.p_value < 0.001
    worse = boot.compare(("base", base), ("better", better), "mean")
    assert worse.delta == pytest.approx(-0.10) and worse.p_value < 0.001 and worse.high < 0


def test_a_strong_effect_over_many_seeds_is_found_with_the_right_sign():
    a, b = correctness(10, 1000, 0.75, seed=1), correctness(10, 1000, 0.65, seed=2)
    boot = TaskBootstrap(1000, n_resamples=2000, seed=4)
    c = boot.compare(("a", a), ("b", b), "mean")
    assert c.delta == pytest.approx(a.mean() - b.mean()) and 0.07 < c.delta < 0.13
    assert c.p_value < 0.001 and 0 < c.low < c.delta < c.high and c.seeds == (10, 10)
    back = boot.compare(("b", b), ("a", a), "mean")
    assert back.delta == pytest.approx(-c.delta) and back.p_value < 0.001 and back.high < 0


def test_p_outperform_sums_to_one_and_splits_ties():
    boot = TaskBootstrap(1000, n_resamples=500)
    good, bad = correctness(2, 1000, 0.9, 1), correctness(3, 1000, 0.6, 2)
    close = correctness(3, 1000, 0.9, 5)
    g, b, c = (boot.per_seed(name, x, "mean") for name, x in (("good", good), ("bad", bad), ("close", close)))
    assert p_outperform(g, b) == 1.0 and p_outperform(b, g) == 0.0
    assert 0.0 < p_outperform(g, c) < 1.0
    assert p_outperform(g, c) + p_outperform(c, g) == pytest.approx(1.0)
    assert p_outperform(g, g) == pytest.approx(0.5)  # ties split evenly


def test_holm_adjusts_step_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9, 0.6, 0.01]) == pytest.approx([0.6, 1.0, 1.0, 0.04])
    assert holm([]) == []


def _mcc_independently(pred: np.ndarray, gold: np.ndarray) -> float:
    try:
        from sklearn.metrics import matthews_corrcoef
    except ImportError:  # MCC is the phi coefficient: Pearson's r of the two binary vectors
        return float(np.corrcoef(pred, gold)[0, 1])
    return float(matthews_corrcoef(gold, pred))


def _micro_f1(counts: np.ndarray) -> float:
    tp, fp, fn = counts.sum(axis=0)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return float(2 * precision * recall / (precision + recall))


def test_every_reducer_reproduces_its_metric_computed_independently():
    rng = np.random.default_rng(0)
    checked = set()
    right = (rng.random((200, 1)) < 0.7).astype(float)
    assert reduce(right, "mean") == pytest.approx(right.mean())
    f1_scores = rng.random((200, 1))  # SQuAD's per-question F1: a mean of floats
    assert reduce(f1_scores, "mean") == pytest.approx(f1_scores.mean())
    checked.add("mean")

    counts = np.array([[2, 0, 1], [1, 1, 0], [0, 0, 1]])  # per sentence: tp, fp, fn
    assert reduce(counts, "f1") == pytest.approx(2 * 3 / (2 * 3 + 1 + 2)) == pytest.approx(_micro_f1(counts))
    many = rng.integers(0, 4, size=(300, 3)).astype(float)
    assert reduce(many, "f1") == pytest.approx(_micro_f1(many))
    assert reduce(np.zeros((5, 3)), "f1") == 0.0  # nothing to find, nothing found
    checked.add("f1")

    pairs = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [4.0, 8.2]])
    assert reduce(pairs, "pearson") == pytest.approx(st.pearsonr(pairs[:, 0], pairs[:, 1]).statistic)
    x = rng.normal(size=500)
    noisy = np.stack([x, 0.5 * x + rng.normal(size=500)], axis=1)
    assert reduce(noisy, "pearson") == pytest.approx(st.pearsonr(noisy[:, 0], noisy[:, 1]).statistic)
    checked.add("pearson")

    binary = np.array([[1, 1], [0, 0], [1, 0], [0, 0], [1, 1], [0, 1]])  # (prediction, gold)
    assert reduce(binary, "mcc") == pytest.approx(_mcc_independently(binary[:, 0], binary[:, 1]))
    pred_gold = (rng.random((400, 2)) < [0.4, 0.5]).astype(float)
    pred_gold[:300, 0] = pred_gold[:300, 1]  # agree on 3/4 of the items
    assert reduce(pred_gold, "mcc") == pytest.approx(_mcc_independently(pred_gold[:, 0], pred_gold[:, 1]))
    checked.add("mcc")

    assert checked == set(REDUCERS), f"reducers without an independent check: {set(REDUCERS) - checked}"


@pytest.mark.parametrize("how,k", [("mean", 1), ("f1", 3), ("pearson", 2), ("mcc", 2)])
def test_reducers_work_seed_by_seed_on_stacked_item_statistics(how, k):
    rng = np.random.default_rng(1)
    stacked = (rng.random((4, 50, k)) < 0.5).astype(float)
    if how == "pearson":  # (prediction, gold) pairs of real numbers
        stacked += rng.random((4, 50, k))
    per_seed = reduce(stacked, how)
    assert per_seed.shape == (4,)
    assert per_seed == pytest.approx([float(reduce(s, how)) for s in stacked])


def test_format_p():
    assert format_p(None) == "-" and format_p(float("nan")) == "-"
    assert format_p(0.00005) == "< 1e-04" and format_p(0.0) == "< 1e-04"
    assert format_p(0.0001) == "0.0001" and format_p(0.003) == "0.003"
    assert format_p(0.034567) == "0.035" and format_p(0.57) == "0.57" and format_p(1.0) == "1"
    assert format_p(0.004, floor=0.01) == "< 1e-02"


def test_mean_ranks():
    scores = {"a": {"t1": 0.9, "t2": 0.5}, "b": {"t1": 0.9, "t2": 0.7}, "c": {"t1": 0.1}}
    ranks = mean_ranks(scores, ["t1", "t2"])
    assert ranks == {"a": pytest.approx((1.5 + 2) / 2), "b": pytest.approx((1.5 + 1) / 2), "c": None}
    assert mean_ranks(scores, ["t1", "t2"], allow_missing=True)["c"] == 3.0
    with_nan = {"a": {"t1": 0.9}, "b": {"t1": float("nan")}}
    assert mean_ranks(with_nan, ["t1"]) == {"a": 1.0, "b": None}
