"""Ranks across tasks (tlbench.ranks) on cases with published or constructed answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from tlbench.plots import critical_difference
from tlbench.ranks import cliques, friedman, nemenyi_q, rank_draws, rank_intervals

# Demšar (2006), Table 6: AUC of C4.5, C4.5+m, C4.5+cf, C4.5+m+cf (columns) on 14 data sets (rows)
TABLE6 = np.array([
    [.763, .768, .771, .798],  # adult (sample)
    [.599, .591, .590, .569],  # breast cancer
    [.954, .971, .968, .967],  # breast cancer wisconsin
    [.628, .661, .654, .657],  # cmc
    [.882, .888, .886, .898],  # ionosphere
    [.936, .931, .916, .931],  # iris
    [.661, .668, .609, .685],  # liver disorders
    [.583, .583, .563, .625],  # lung cancer
    [.775, .838, .866, .875],  # lymphography
    [1.000, 1.000, 1.000, 1.000],  # mushroom
    [.940, .962, .965, .962],  # primary tumor
    [.619, .666, .614, .669],  # rheum
    [.972, .981, .975, .975],  # voting
    [.957, .978, .946, .970],  # wine
])
VOTING = 12


def test_table6_as_printed_ranks_voting_as_a_tie():
    """The printed AUCs tie C4.5+cf and C4.5+m+cf on voting (.975, .975); ranked as printed, the
    average ranks are 2.929 and 1.929, not the published 2.893 and 1.964 (see the next test)."""
    f = friedman(TABLE6)
    assert np.round(f.mean_ranks, 3).tolist() == [3.143, 2.000, 2.929, 1.929]
    r = np.array(f.mean_ranks)
    assert f.chi2 == pytest.approx(12 * 14 / 20 * (np.sum(r**2) - 4 * 25 / 4))
    assert (round(f.chi2, 2), round(f.ff, 2)) == (9.86, 3.99)
    assert round(f.cd, 2) == 1.25  # CD depends on k and N only


def test_demsar_2006_worked_example():
    """The published numbers: average ranks 3.143, 2.000, 2.893, 1.964, chi2_F 9.28, F_F 3.69, q_0.05
    2.569, CD 1.25. They need C4.5+cf ahead of C4.5+m+cf on voting (ranks 2 and 3, not 2.5 each): the
    paper's unrounded AUCs differ where the printed ones tie. Only that tie is broken here."""
    scores = TABLE6.copy()
    scores[VOTING, 2] += 1e-4
    f = friedman(scores)
    assert np.round(f.mean_ranks, 3).tolist() == [3.143, 2.000, 2.893, 1.964]
    assert round(f.chi2, 2) == 9.28
    assert round(f.ff, 2) == 3.69
    assert round(f.q_alpha, 3) == 2.569
    assert round(f.cd, 2) == 1.25
    assert (f.n, f.k, f.alpha) == (14, 4, 0.05)
    assert f.p_chi2 == pytest.approx(st.chi2.sf(f.chi2, 3))
    assert f.p_ff == pytest.approx(st.f.sf(f.ff, 3, 39)) and f.p_ff < 0.05
    # at 0.05 no pair is apart by more than CD (largest gap 1.18); at 0.10 CD is 1.12, and C4.5 is
    # separated from C4.5+m (gap 1.14) and C4.5+m+cf (1.18) but not from C4.5+cf
    assert f.separable() == [] and f.cliques() == [(3, 1, 2, 0)]
    f10 = friedman(scores, alpha=0.10)
    assert (round(f10.q_alpha, 3), round(f10.cd, 2)) == (2.291, 1.12)
    assert f10.separable() == [(0, 1), (0, 3)]
    assert f10.cliques() == [(3, 1, 2), (2, 0)]


@pytest.mark.parametrize(("k", "q"), [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850),
                                      (7, 2.949), (8, 3.031), (9, 3.102), (10, 3.164)])
def test_nemenyi_q_matches_demsar_table_5a(k: int, q: float):
    # the table divides 3-decimal studentized-range quantiles by sqrt(2), so its last digit can be one
    # off the exact value's rounding (k = 3: 2.3437 printed 2.343; k = 7: 2.9483 printed 2.949)
    assert nemenyi_q(k, 0.05) == pytest.approx(q, abs=1e-3)


def test_chi2_is_scipys_without_ties():
    x = np.random.default_rng(0).normal(size=(9, 5))
    f = friedman(x)
    assert f.chi2 == pytest.approx(st.friedmanchisquare(*x.T).statistic)
    assert f.p_chi2 == pytest.approx(st.friedmanchisquare(*x.T).pvalue)
    assert sum(f.mean_ranks) == pytest.approx(5 * 6 / 2)


def test_degenerate_cases_do_not_divide_by_zero():
    tied = friedman(np.full((6, 3), 0.7))
    assert tied.mean_ranks == (2.0, 2.0, 2.0)
    assert (tied.chi2, tied.p_chi2, tied.ff, tied.p_ff) == (0.0, 1.0, 0.0, 1.0)
    assert tied.separable() == [] and tied.cliques() == [(0, 1, 2)]
    # every task ranks alike: chi2 = N(k-1), the F denominator is 0
    same = friedman(np.tile([0.9, 0.5, 0.1], (6, 1)))
    assert same.mean_ranks == (1.0, 2.0, 3.0) and same.chi2 == pytest.approx(12.0)
    assert same.ff == float("inf") and same.p_ff == 0.0


@pytest.mark.parametrize("shape", [(1, 4), (5, 1), (4,)])
def test_too_few_tasks_or_strategies_raise(shape: tuple[int, ...]):
    with pytest.raises(ValueError, match="tasks"):
        friedman(np.zeros(shape))


def test_missing_scores_raise():
    x = np.ones((3, 3))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        friedman(x)


def test_separable_and_cliques_on_a_constructed_case():
    # two groups in input order scrambled: {3, 1, 4} near rank 1, {0, 2} near rank 3
    ranks = [3.0, 1.2, 3.1, 1.0, 1.4]
    assert cliques(ranks, 1.0) == [(3, 1, 4), (0, 2)]
    assert cliques(ranks, 0.1) == []  # 1.0 -> 1.2 and 3.0 -> 3.1 are both more than 0.1 apart
    assert cliques(ranks, 0.35) == [(3, 1), (1, 4), (0, 2)]
    assert cliques(ranks, 5.0) == [(3, 1, 4, 0, 2)]
    # through the test: on 12 tasks strategy 0 is best and 1 second; 2 and 3 swap third and fourth
    # half the time. CD at k = 4, N = 12 is 1.35: 0 and 1 (1 apart) and 2 and 3 are not separated
    x = np.array([[4, 3, 2, 1], [4, 3, 2, 1], [4, 3, 1, 2], [4, 3, 1, 2]] * 3, dtype=float)
    f = friedman(x)
    assert f.mean_ranks == (1.0, 2.0, 3.5, 3.5)
    assert 1.0 < f.cd < 1.5
    assert f.separable() == [(0, 2), (0, 3), (1, 2), (1, 3)]
    assert f.cliques() == [(0, 1), (2, 3)]
    assert f.as_dict()["cliques"] == [[0, 1], [2, 3]]


def reference_rank_draws(draws: list[np.ndarray]) -> np.ndarray:
    return np.mean([st.rankdata(-d, axis=0) for d in draws], axis=0)


def test_rank_draws_are_average_ranks_with_ties():
    rng = np.random.default_rng(3)
    draws = [rng.integers(0, 3, size=(5, 200)).astype(float) for _ in range(4)]  # many ties
    got = rank_draws(draws)
    assert got.shape == (5, 200)
    np.testing.assert_allclose(got, reference_rank_draws(draws))
    np.testing.assert_allclose(got.sum(axis=0), 15.0)


def test_rank_draws_check_their_input():
    with pytest.raises(ValueError, match="one shape"):
        rank_draws([np.zeros((3, 10)), np.zeros((3, 11))])
    with pytest.raises(ValueError, match="at least one task"):
        rank_draws([])
    with pytest.raises(ValueError, match="finite"):
        rank_draws([np.full((2, 3), np.nan)])


def test_a_strategy_always_best_has_p_best_one_and_rank_one():
    rng = np.random.default_rng(4)
    draws = [rng.normal(size=(3, 1000)) for _ in range(5)]
    for d in draws:
        d[1] += 10.0  # strategy 1 wins every task on every resample
    iv = rank_intervals(draws)
    assert iv.p_best == (0.0, 1.0, 0.0)
    assert (iv.low[1], iv.high[1]) == (1.0, 1.0)
    assert 2.0 <= iv.low[0] <= iv.high[0] <= 3.0 and 2.0 <= iv.low[2] <= iv.high[2] <= 3.0
    assert iv.n_resamples == 1000 and iv.level == 0.95


def test_exchangeable_strategies_split_p_best():
    rng = np.random.default_rng(5)
    draws = [rng.normal(size=(2, 4000)) for _ in range(6)]
    iv = rank_intervals(draws)
    assert iv.p_best[0] == pytest.approx(0.5, abs=0.04) and iv.p_best[1] == pytest.approx(0.5, abs=0.04)
    assert sum(iv.p_best) == pytest.approx(1.0, abs=1e-12)
    assert iv.low[0] < 1.5 < iv.high[0] and iv.low[1] < 1.5 < iv.high[1]
    assert iv.low[0] == pytest.approx(3.0 - iv.high[1])  # the two mean ranks sum to 3 on every resample
    # identical draws: every resample a tie, split evenly, mean rank 1.5 throughout
    same = rank_intervals([np.tile(d[:1], (2, 1)) for d in draws], level=0.9)
    assert same.p_best == (0.5, 0.5) and same.low == (1.5, 1.5) and same.high == (1.5, 1.5)
    # three strategies, one of them tied for best with another on every resample
    d = rng.normal(size=(3, 500))
    d[2] = d[0] + 5.0
    d[1] = d[2]
    tie = rank_intervals([d, d])
    assert tie.p_best == (0.0, 0.5, 0.5) and sum(tie.p_best) == 1.0
    assert tie.as_dict()["interval"][1] == [1.5, 1.5]


def test_rank_intervals_follow_level():
    rng = np.random.default_rng(6)
    draws = [rng.normal(size=(4, 2000)) + np.array([[0.0], [0.3], [0.6], [0.9]]) for _ in range(8)]
    wide, narrow = rank_intervals(draws, 0.95), rank_intervals(draws, 0.5)
    point = reference_rank_draws(draws)
    for i in range(4):
        assert wide.low[i] <= narrow.low[i] <= narrow.high[i] <= wide.high[i]
        assert wide.low[i] == pytest.approx(np.quantile(point[i], 0.025))
    assert np.argmax(wide.p_best) == 3
    with pytest.raises(ValueError, match="level"):
        rank_intervals(draws, 1.0)


def test_critical_difference_plot_writes_a_png(tmp_path):
    f = friedman(TABLE6)
    path = critical_difference(["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"], list(f.mean_ranks), f.cd,
                               tmp_path / "cd.png", title="Demšar 2006, table 6")
    assert path == tmp_path / "cd.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="2 or more"):
        critical_difference(["a"], [1.0], 0.5, tmp_path / "one.png")
