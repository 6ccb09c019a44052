"""Two-level paired bootstrap: is training procedure A better than B on this task, seeds and test set
both varying?

A strategy's scores vary with its training seed and with the test sample. Resampling only the test
items with the trained models held fixed answers "would these trained models rank the same on a new
test sample?", not "does A beat B?" (Bouthillier et al. 2021). So each resample draws

- the evaluation items with replacement, *shared* by every strategy of the task (paired), and by
  cluster where the task declares clusters (SQuAD's paragraphs: questions on one paragraph are
  resampled together), and
- each strategy's seeds with replacement, *within* the strategy (seed s of A and seed s of B share
  nothing),

and recomputes each strategy's mean over seeds of the metric on those items, exactly (the task's
reducer from weighted sums, :mod:`tlbench.stats`).

A plain two-level bootstrap undercovers with few seeds (its seed variance is the seeds' population
variance, and a normal quantile is used where the seed level has n - 1 degrees of freedom: 0.84
coverage at 3 seeds when seed variance dominates). Two small-sample corrections follow Welch's
t-test, which the seed level is when seed variance dominates: the seed deviations of each resample
are scaled by sqrt(n / (n - 1)), and the interval and p-value use Student's t with
Welch-Satterthwaite degrees of freedom (n - 1 per seed level, clusters - 1 for the item level). And
the seed x item interaction (a seed's own luck on particular items) is in both levels: it is
measured from the resamples (each seed's item variance that the other seeds do not share) and
counted once. The simulations
in tests/unit/test_bootstrap.py check coverage at 3, 5 and 10 seeds with seed or item variance
dominating. With one seed on either side the seed variance is unknown and there is no verdict.

Replicates nested in training subsets (issue 20; :meth:`TaskBootstrap.nest`): where a strategy has
two or more training subsets and some subset has several seeds, the seeds of a subset share its
training rows and are not independent. The replicate level then resamples the *subsets* with
replacement, each drawn subset with its own seeds (a subset's mean over its seeds is the unit, each
subset weighing the same), corrected by sqrt(G / (G - 1)) with G - 1 degrees of freedom. The spread of
the subset means already holds the seeds' variance within a subset (divided by their number), so
redrawing the seeds inside each drawn subset as well would count it a second time (Davison and
Hinkley 1997, section 3.8; Field and Welsh 2007: resampling the clusters alone is consistent). What
the item level shares with the subset level (each subset's and each seed's own luck on particular
items) is counted once, as above. With one seed per subset nothing is nested and every number is
what the flat bootstrap gives.

Vectorised: item weights are counts, so each strategy's per-seed sufficient statistics on every
resample are one matrix product (10,000 resamples x 1,000 items in milliseconds).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from tlbench.stats import REDUCERS
from tlbench.stats import nested as stats_nested

__all__ = ["Comparison", "TaskBootstrap", "p_outperform"]


def _key(*parts: object) -> list[int]:
    """A stable RNG key from names (Python's ``hash`` changes between processes)."""
    return [zlib.crc32(str(p).encode()) for p in parts]


@dataclass(frozen=True)
class Comparison:
    """Strategy A against B on one task."""

    delta: float  # mean over A's seeds minus mean over B's seeds, on all report items
    se: float  # its standard error: two-level bootstrap, seed level corrected (see module)
    df: float  # Welch-Satterthwaite degrees of freedom of the seed and item levels
    low: float  # 95% interval: delta -+ t(df) * se
    high: float
    p_value: float  # two-sided, Student's t with df
    mde: float  # the |delta| this comparison detects with 80% power at the 5% level (two-sided)
    items_low: float  # 95% percentile interval with seeds fixed: test-set uncertainty only
    items_high: float
    seeds: tuple[int, int]  # (A's, B's)
    margin: float | None = None  # an equivalence margin, when the suite declares one
    tost_p: float | None = None  # two one-sided tests that |true delta| < margin

    @property
    def testable(self) -> bool:
        """Both sides have at least two seeds: the seed variance can be estimated."""
        return min(self.seeds) >= 2


class TaskBootstrap:
    """The resamples of one task's report items, shared by all its strategies."""

    def __init__(self, n_items: int, *, clusters: Sequence[str] | None = None, cluster_by: str | None = None,
                 n_resamples: int = 10_000, seed: int = 0, task: str = ""):
        self.n_resamples, self.seed, self.task = n_resamples, seed, task
        self.n_items, self.cluster_by = n_items, (cluster_by or "cluster") if clusters is not None else None
        rng = np.random.default_rng(_key(seed, task))
        if clusters is not None:
            if len(clusters) != n_items:
                raise ValueError(f"{len(clusters)} cluster labels for {n_items} items")
            _, of_item = np.unique(np.asarray(clusters), return_inverse=True)
            k = int(of_item.max()) + 1
        else:
            of_item, k = np.arange(n_items), n_items
        self.n_clusters = k
        drawn = rng.integers(0, k, size=(n_resamples, k))
        counts = np.bincount((drawn + k * np.arange(n_resamples)[:, None]).ravel(),
                             minlength=n_resamples * k).reshape(n_resamples, k)
        self.weights = counts[:, of_item].astype(float)  # [B, items]: how often each item is drawn
        self.n = self.weights.sum(axis=1)  # [B]: items per resample (varies with clusters)
        self._seed_weights: dict[tuple[str, int], np.ndarray] = {}
        self._cache: dict[str, np.ndarray] = {}
        self._nested: dict[str, np.ndarray] = {}  # name -> each replicate's subset index (nested only)
        self._levels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._shared: dict[str, float] = {}

    def nest(self, name: str, subsets: Sequence[object]) -> None:
        """Declare the training subset of each of the strategy's replicates (its statistics' rows, in
        order). Nested (two or more subsets, some with several seeds: ``stats.nested``): its replicate
        level resamples subsets (module text). Otherwise nothing changes."""
        _, of = np.unique(np.asarray([str(x) for x in subsets]), return_inverse=True)
        if stats_nested(list(subsets)):
            self._nested[name] = of.ravel()
        else:
            self._nested.pop(name, None)
        self._levels.pop(name, None)
        self._shared.pop(name, None)

    def _weights(self, name: str) -> np.ndarray:
        """``[replicates]``: each replicate's weight in a nested strategy's mean (1 / (G n_g))."""
        of = self._nested[name]
        counts = np.bincount(of)
        return 1.0 / (len(counts) * counts[of])

    def units(self, name: str, n_replicates: int) -> int:
        """The independent units of the strategy's replicate level: subsets when nested, else seeds."""
        return int(self._nested[name].max()) + 1 if name in self._nested else n_replicates

    def center(self, name: str, scores: np.ndarray) -> float:
        """The strategy's mean of its replicates' ``scores``: the plain mean, or (nested) the mean of
        its subset means."""
        if name not in self._nested:
            return scores.mean()
        return float(self._weights(name) @ scores)

    # -- one strategy ----------------------------------------------------------------------
    def prepare(self, strategies: dict[str, tuple[np.ndarray, str]]) -> None:
        """Compute every strategy's per-seed resampled metrics (``name -> (stats, how)``) with one
        matrix product for all of them (``per_seed`` then reads them)."""
        todo = {n: (np.asarray(x, dtype=float), how) for n, (x, how) in strategies.items()
                if n not in self._cache}
        if not todo:
            return
        features = {n: REDUCERS[how].features(x) for n, (x, how) in todo.items()}  # [S, N, m] each
        flat = [f.transpose(1, 0, 2).reshape(self.n_items, -1) for f in features.values()]
        sums = self.weights @ np.concatenate(flat, axis=1)  # [B, sum of S*m]
        at = 0
        for (name, (_, how)), f in zip(todo.items(), features.values(), strict=True):
            s, _, m = f.shape
            part = sums[:, at:at + s * m].reshape(-1, s, m).transpose(1, 0, 2)  # [S, B, m]
            at += s * m
            self._cache[name] = REDUCERS[how].metric(part, self.n[None, :])

    def per_seed(self, name: str, stats: np.ndarray, how: str) -> np.ndarray:
        """``[seeds, B]``: each seed's metric on each resample (``stats`` is ``[seeds, items, k]``)."""
        self.prepare({name: (stats, how)})
        return self._cache[name]

    def seed_weights(self, name: str, n_seeds: int) -> np.ndarray:
        """``[B, seeds]``: how often each of the strategy's seeds is drawn in each resample (its own
        stream, so a strategy's draws do not depend on which others the task has)."""
        key = (name, n_seeds)
        if key not in self._seed_weights:
            rng = np.random.default_rng(_key(self.seed, self.task, name))
            drawn = rng.integers(0, n_seeds, size=(self.n_resamples, n_seeds))
            self._seed_weights[key] = np.stack([(drawn == i).sum(axis=1) for i in range(n_seeds)], axis=1)
        return self._seed_weights[key]

    def levels(self, name: str, stats: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
        """(items-only mean over seeds ``[B]``, corrected seed deviation ``[B]``) of one strategy."""
        if name not in self._levels:
            compute = self._nested_levels if name in self._nested else self._flat_levels
            self._levels[name] = compute(name, stats, how)
        return self._levels[name]

    def _nested_levels(self, name: str, stats: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
        """Nested: the items-only mean of the subset means, and the subsets' corrected deviation."""
        per_seed = self.per_seed(name, stats, how)
        of, w = self._nested[name], self._weights(name)
        g = int(of.max()) + 1
        full = REDUCERS[how](np.asarray(stats, dtype=float))  # [S], on the report items as they are
        means = np.bincount(of, weights=full) / np.bincount(of)  # [G]
        both = self.seed_weights(name, g) @ means / g
        return w @ per_seed, (both - means.mean()) * np.sqrt(g / (g - 1))

    def _flat_levels(self, name: str, stats: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
        per_seed = self.per_seed(name, stats, how)
        items_only = per_seed.mean(axis=0)
        s = per_seed.shape[0]
        if s < 2:
            return items_only, np.zeros_like(items_only)
        # the seed level on the report items as they are: on resampled items each seed's score
        # would carry the seed x item interaction twice (a bootstrap sample repeats items)
        full = REDUCERS[how](np.asarray(stats, dtype=float))  # [S]
        both = self.seed_weights(name, s) @ full / s
        return items_only, (both - full.mean()) * np.sqrt(s / (s - 1))

    def shared(self, name: str, stats: np.ndarray, how: str) -> float:
        """The item-resampling variance of the strategy's mean that its replicate level counts too.
        Flat: the seed x item interaction over the seeds (:meth:`interaction` / seeds). Nested: the
        part not shared by replicates of different subsets (each subset's and each seed's own luck on
        particular items), w'Cw minus the mean covariance between replicates of different subsets."""
        if name not in self._shared:
            if name in self._nested:
                per_seed, of, w = self.per_seed(name, stats, how), self._nested[name], self._weights(name)
                cov = np.cov(per_seed)
                self._shared[name] = float(w @ cov @ w - cov[of[:, None] != of[None, :]].mean())
            else:
                self._shared[name] = self.interaction(name, stats, how) / np.asarray(stats).shape[0]
        return self._shared[name]

    def interaction(self, name: str, stats: np.ndarray, how: str) -> float:
        """The item-resampling variance of one seed's score that its other seeds do not share (mean
        variance minus mean covariance between seeds over the resamples): the seed x item
        interaction, counted by the seed level already. 0 with one seed."""
        per_seed = self.per_seed(name, stats, how)
        s = per_seed.shape[0]
        if s < 2:
            return 0.0
        cov = np.cov(per_seed)
        return float(np.trace(cov) / s - (cov.sum() - np.trace(cov)) / (s * (s - 1)))

    def draws(self, name: str, stats: np.ndarray, how: str) -> np.ndarray:
        """``[B]``: the strategy's two-level resampled mean (for ranks across tasks)."""
        items_only, seed_part = self.levels(name, stats, how)
        return items_only + seed_part

    # -- two strategies --------------------------------------------------------------------
    def compare(self, a: tuple[str, np.ndarray], b: tuple[str, np.ndarray], how: str, *,
                margin: float | None = None, alpha: float = 0.05) -> Comparison:
        """A (``(name, stats)``) against B on the shared resamples."""
        (na, sa), (nb, sb) = a, b
        sa, sb = np.asarray(sa, dtype=float), np.asarray(sb, dtype=float)
        if sa.shape[1] != sb.shape[1]:
            raise ValueError(f"paired data need the same items, got {sa.shape[1]} and {sb.shape[1]}")
        reduce = REDUCERS[how]
        delta = float(self.center(na, reduce(sa)) - self.center(nb, reduce(sb)))
        ia, ea = self.levels(na, sa, how)
        ib, eb = self.levels(nb, sb, how)
        items = ia - ib
        # the item level, less the seed x item interaction it shares with the seed level (each
        # seed's own luck on particular items varies with the items *and* with the seed)
        shared = sum(self.shared(n, sx, how) for n, sx in ((na, sa), (nb, sb)))
        v_items = max(0.0, float(items.var(ddof=1)) - shared)
        va, vb = float(ea.var(ddof=1)), float(eb.var(ddof=1))
        se = float(np.sqrt(v_items + va + vb))
        # Welch-Satterthwaite: each seed level has n - 1 degrees of freedom (subsets - 1 when seeds
        # are nested in subsets), the item level one fewer than the clusters (items) resampled
        terms = [(va, self.units(na, sa.shape[0]) - 1), (vb, self.units(nb, sb.shape[0]) - 1),
                 (v_items, self.n_clusters - 1)]
        denominator = sum(v * v / k for v, k in terms if k > 0)
        df = float(se ** 4 / denominator) if denominator > 0 else float("inf")
        t = float(st.t.ppf(1 - alpha / 2, df))
        if se > 0:
            p = float(2 * st.t.sf(abs(delta) / se, df))
        else:  # nothing varies: the difference is what it is
            p = 1.0 if delta == 0 else 0.0
        mde = (t + float(st.t.ppf(0.8, df))) * se
        tost = None
        if margin is not None:
            if se > 0:
                tost = float(max(st.t.sf((delta + margin) / se, df), st.t.cdf((delta - margin) / se, df)))
            else:
                tost = 0.0 if abs(delta) < margin else 1.0
        items_low, items_high = np.percentile(items, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        return Comparison(delta, se, df, delta - t * se, delta + t * se, p, mde, float(items_low),
                          float(items_high), (sa.shape[0], sb.shape[0]), margin, tost)


def p_outperform(per_seed_a: np.ndarray, per_seed_b: np.ndarray) -> float:
    """P(A outperforms B): a random seed of A against a random seed of B on a random resample of the
    test items (both ``[seeds, B]`` on the same resamples), ties split evenly, so
    ``p_outperform(a, b) + p_outperform(b, a) == 1`` (Bouthillier et al. 2021's "probability of
    outperforming")."""
    a, b = per_seed_a[:, None, :], per_seed_b[None, :, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))
