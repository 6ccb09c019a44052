"""Issue 20: replicates nested in training subsets. With several seeds per training subset, the seeds
of a subset share its training rows, so the per-cell t-interval is over subset means, the bootstrap's
replicate level resamples subsets, and learning-curve intervals are over subset means. With one seed
per subset, or no subsets axis, every number is what it was before (bit for bit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.records import record
from tlbench.record import PerClass, RunRecord

EXPECTED = Path(__file__).with_name("hierarchy_flat_expected.json")
STRATEGIES = ("lora", "linear_probe", "full_finetune")  # the baseline last in table order: see below


def with_subset(r: RunRecord, size: int | None, subset: int | None) -> RunRecord:
    """``r`` as a run of training subset ``subset`` at ``size`` per class (None: no such axis)."""
    if size is None:
        return r
    tag = f"-{size}-u{subset}"
    return r.but(run_id=r.run_id + tag, cell_id=r.cell_id + tag, train_size=PerClass(per_class=size),
                 train_subset=subset, data={**r.data.model_dump(), "label_names": ["negative", "positive"],
                                            "sizes": {"train": 2 * size, "select": 500, "report": 300}})


def flat_records() -> list[RunRecord]:
    """sst2: 8 and 16 per class, 4 training subsets of one seed each; imdb: no subsets axis, 3 seeds.
    Each strategy has its own level, each subset and seed its own shift, and items of varying
    difficulty."""
    rng = np.random.default_rng(20)
    out = []
    level = {"lora": 0.70, "linear_probe": 0.66, "full_finetune": 0.62}
    difficulty = rng.random(300)
    for s in STRATEGIES:
        for size in (8, 16):
            for subset in range(4):
                p = level[s] + (0.02 if size == 16 else 0.0) + rng.normal(0, 0.03)
                items = (difficulty < p).astype(float)
                flip = rng.random(300) < 0.08  # this run's own luck on particular items
                items[flip] = 1 - items[flip]
                out.append(with_subset(record(s, seed=0, items=items.tolist()), size, subset))
        for seed in range(3):
            p = level[s] + rng.normal(0, 0.03)
            items = (rng.random(300) < p).astype(float)
            out.append(record(s, task="imdb", seed=seed, items=items.tolist()))
    return out


def numbers(a: dict[str, Any]) -> dict[str, Any]:
    """What the issue-20 change could move: each cell's summary, every comparison with the baseline
    before correction (Δ, interval, se, df, raw p, MDE, items-only interval), P(outperform), the ranks'
    bootstrap intervals and the learning curves with their Welch intervals."""
    cell_keys = ("n", "values", "mean", "sd", "ci95_t", "range")
    raw = ("delta", "ci95", "se", "df", "p_value", "mde", "items_ci95", "seeds", "testable")
    return {
        "cells": {t: {s: {k: x[k] for k in cell_keys} for s, x in e["strategies"].items()}
                  for t, e in a["tasks"].items()},
        "comparisons": {t: {s: {k: c[k] for k in raw} for s, c in e["comparisons"].items()}
                        for t, e in a["tasks"].items()},
        "p_outperform": {t: e["p_outperform"] for t, e in a["tasks"].items()},
        "ranks": a["ranks"]["intervals"], "mean_rank": a["mean_rank"],
        "curves": {t: {"strategies": c["strategies"], "differences": c["differences"]}
                   for t, c in a["curves"].items()},
    }


def test_one_seed_per_subset_or_no_subsets_axis_gives_the_numbers_of_before_bit_for_bit():
    """``hierarchy_flat_expected.json`` was written by the analysis as it was before issue 20's change
    (and before the family became every pair): every cell, every comparison with the baseline before
    correction, P(outperform), the ranks and the curves must come out identical. (The baseline is last
    in table order, so each pair with it is held in the orientation the old code computed it in: a pair
    held the other way round is turned, and a sum of variances in the other order can differ in its last
    bit.)"""
    from tlbench.analysis import analyse
    from tlbench.report import _finite

    a = analyse(flat_records(), baseline="full_finetune", n_resamples=500)
    assert json.loads(json.dumps(_finite(numbers(a)))) == json.loads(EXPECTED.read_text())
    assert not any("nested" in x for e in a["tasks"].values() for x in e["strategies"].values())
    assert a["statistics"]["replicates"] == "training subsets × seeds"


def nested_records(sizes: tuple[int, ...] = (8,)) -> list[RunRecord]:
    """3 training subsets × 2 seeds per strategy and size, the scores given (no item statistics)."""
    scores = {"full_finetune": [[0.70, 0.74], [0.80, 0.78], [0.60, 0.66]],
              "linear_probe": [[0.65, 0.64], [0.69, 0.71], [0.62, 0.60]]}
    out = []
    for size in sizes:
        for s, by_subset in scores.items():
            for subset, values in enumerate(by_subset):
                for seed, v in enumerate(values):
                    out.append(with_subset(record(s, seed=seed, score=v + size / 1000), size, subset))
    return out


def test_with_several_seeds_per_subset_the_t_interval_is_over_the_subset_means():
    from scipy import stats as st

    from tlbench.analysis import analyse
    from tlbench.report import leaderboard

    records = nested_records()
    a = analyse(records, baseline="full_finetune", n_resamples=200)
    ft = a["tasks"]["sst2"]["strategies"]["full_finetune"]
    # by hand: subset means 0.728, 0.798, 0.638 (each + 0.008); n = 3 subsets, and Student's t with 2
    # degrees of freedom has the closed form (2p - 1) sqrt(2 / (4p(1 - p))): 4.303 at p = 0.975
    means = [0.728, 0.798, 0.638]
    mean, sd = sum(means) / 3, float(np.std(means, ddof=1))
    t2 = 0.95 * np.sqrt(2 / (4 * 0.975 * 0.025))
    half = t2 * sd / np.sqrt(3)
    assert st.t.ppf(0.975, 2) == pytest.approx(t2, rel=1e-9)
    assert ft["n"] == 3 and ft["nested"] == {"subsets": 3, "seeds": [2, 2, 2],
                                              "subset_means": pytest.approx(means)}
    assert ft["mean"] == pytest.approx(mean) and ft["sd"] == pytest.approx(sd)
    assert ft["ci95_t"] == pytest.approx([mean - half, mean + half])
    assert len(ft["values"]) == 6 and ft["subsets"] == [0, 0, 1, 1, 2, 2]
    # the six runs as if independent would give a narrower interval (n = 6, t(5))
    flat = 2.570581836 * float(np.std([v for x in ([0.70, 0.74], [0.80, 0.78], [0.60, 0.66]) for v in x],
                                      ddof=1)) / np.sqrt(6)
    assert flat < half * 0.8
    assert a["statistics"]["replicates"] == "training subsets, each with its seeds nested within it"
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert f"{mean:.3f} ± {half:.3f} (n=3 subsets × 2 seeds; subset means: 0.728 0.798 0.638)" in md
    assert "so a cell's n, mean and t-interval are over its subset means (n = subsets" in md


def test_learning_curve_intervals_are_over_subset_means_when_seeds_are_nested():
    from scipy import stats as st

    from tlbench.analysis import analyse

    a = analyse(nested_records((8, 16)), baseline="full_finetune", n_resamples=200)
    points = a["curves"]["sst2"]["strategies"]
    small = {s: ps[0] for s, ps in points.items()}
    assert small["full_finetune"]["n"] == 3 and small["full_finetune"]["subsets"] == 3
    (d, _) = a["curves"]["sst2"]["differences"]["linear_probe"]
    # Welch over the subset means: 3 a side
    ma = [0.728, 0.798, 0.638]
    mb = [0.653, 0.708, 0.618]
    va, vb = np.var(ma, ddof=1) / 3, np.var(mb, ddof=1) / 3
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    half = st.t.ppf(0.975, df) * np.sqrt(va + vb)
    delta = np.mean(ma) - np.mean(mb)
    assert d["n"] == [3, 3] and d["delta"] == pytest.approx(delta)
    assert d["ci95"] == pytest.approx([delta - half, delta + half])


def constant_items(value: float, n_items: int = 50) -> np.ndarray:
    """One run's item statistics with no item variance: every item scores ``value``."""
    return np.full((n_items, 1), value)


def test_the_nested_bootstrap_resamples_subsets_and_matches_welch_over_subset_means():
    """No item variance: the comparison's variance is the replicate level's alone. Nested, it is the
    variance of the subset means over the subsets (each side), with subsets - 1 degrees of freedom:
    Welch's t-test on the subset means. Counting the six runs as independent would be narrower."""
    from tlbench.bootstrap import TaskBootstrap

    # 4 subsets x 3 seeds: the subsets differ a lot, seeds within a subset little
    rng = np.random.default_rng(1)
    a_means, b_means = [0.70, 0.80, 0.62, 0.75], [0.66, 0.71, 0.60, 0.64]
    a = np.stack([constant_items(m + rng.normal(0, 0.005)) for m in a_means for _ in range(3)])
    b = np.stack([constant_items(m + rng.normal(0, 0.005)) for m in b_means for _ in range(3)])
    subsets = [g for g in range(4) for _ in range(3)]
    nested = TaskBootstrap(50, n_resamples=40_000, seed=3)
    nested.nest("a", subsets)
    nested.nest("b", subsets)
    c = nested.compare(("a", a), ("b", b), "mean")
    sub_a, sub_b = a[:, 0, 0].reshape(4, 3).mean(axis=1), b[:, 0, 0].reshape(4, 3).mean(axis=1)
    va, vb = np.var(sub_a, ddof=1) / 4, np.var(sub_b, ddof=1) / 4
    assert c.delta == pytest.approx(sub_a.mean() - sub_b.mean())
    assert c.se == pytest.approx(np.sqrt(va + vb), rel=0.03)
    welch_df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 3)
    assert c.df == pytest.approx(welch_df, rel=0.1) and c.df < 6.5
    flat = TaskBootstrap(50, n_resamples=40_000, seed=3).compare(("a", a), ("b", b), "mean")
    assert flat.se < 0.75 * c.se and flat.df > 15  # 12 "independent" runs a side


def test_a_nest_with_one_seed_per_subset_changes_nothing():
    from tlbench.bootstrap import TaskBootstrap

    rng = np.random.default_rng(4)
    a = (rng.random((5, 200, 1)) < 0.7).astype(float)
    b = (rng.random((5, 200, 1)) < 0.65).astype(float)
    plain = TaskBootstrap(200, n_resamples=2000, seed=1)
    declared = TaskBootstrap(200, n_resamples=2000, seed=1)
    declared.nest("a", [0, 1, 2, 3, 4])
    declared.nest("b", [0, 0, 0, 0, 0])  # one subset: the seeds are the replicates
    assert plain.compare(("a", a), ("b", b), "mean") == declared.compare(("a", a), ("b", b), "mean")
    assert (plain.draws("a", a, "mean") == declared.draws("a", a, "mean")).all()
