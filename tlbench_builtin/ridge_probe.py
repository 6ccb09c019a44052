"""``ridge_probe``: a closed-form ridge probe on the frozen encoder's cached features, its
regularisation chosen by efficient leave-one-out cross-validation on the training rows alone.

The features are the linear probe's (``tlbench_builtin.linear_probe``: the same cache files, keyed by
model, task, data, split, pooling, layers and precision), so a ridge probe next to a linear probe
extracts nothing twice. The head is then solved, not trained: scikit-learn's ``RidgeClassifierCV``
(classification and pair classification: one-vs-all least squares on +-1 targets, the decision values
are the head's outputs) or ``RidgeCV`` (regression), each picking ``alpha`` from a log-spaced grid by
the generalised cross-validation shortcut for leave-one-out error (one SVD or eigendecomposition of
the training features, every alpha for free). Token classification fits the same classifier on every
labelled token's features (each word's first sub-token); span QA is refused at validation: a start
and an end distribution over a passage's tokens are not a least-squares target.

Nothing is tuned by Optuna (the search space is empty, so tuning skips the cell): the only knob, alpha,
is chosen inside ``fit`` from the training rows, never from the selection or report split. The record's
``details`` holds the chosen alpha, the grid and whether the choice sits on the grid's edge.

The solution is written into the probe's own torch head (a linear layer on the features), so
prediction, saving, reloading and the cost columns are the probe's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from tlbench import Fitted, HeadSpec, Job, Register, Strategy, StrategyOptions, hookimpl
from tlbench_builtin.linear_probe import LinearProbe, LinearProbeOptions

#: the default alpha grid: 10^-2 .. 10^6 in half decades (17 values). sklearn's own default (0.1, 1,
#: 10) is too narrow for unnormalised transformer features, whose Gram matrix scales with the rows:
#: on MiniLM's mean-pooled SST-2 training features leave-one-out picks an alpha inside this grid
#: (docs/strategies.md says how that was checked: training rows only)
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 6, 17))
#: head kinds served; span QA is not a least-squares target
KINDS = ("classification", "regression", "token_classification")


class RidgeProbeOptions(StrategyOptions):
    pooling: Literal["auto", "cls", "mean", "last"] = Field(
        "auto", description="how token states become one vector (text-level tasks only), as linear_probe's: "
                            "auto (the last real token for a causal decoder, else mean), cls, mean, last")
    layers: Literal["last", "last4"] = Field(
        "last", description="the last layer's states, or the last four layers' concatenated")
    alphas: tuple[float, ...] = Field(
        DEFAULT_ALPHAS, min_length=1,
        description="the ridge penalties leave-one-out chooses from (default 10^-2..10^6, half decades)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="autocast of the feature extraction (auto: bf16 on capable GPUs, fp32 on CPU)")
    eval_batch_size: int = Field(256, gt=0, le=65536, description="rows per feature-extraction batch")

    @field_validator("alphas")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not a > 0 for a in value):
            raise ValueError(f"every alpha must be > 0, got {list(value)}")
        return tuple(sorted(set(value)))


class RidgeProbe(Strategy):
    description = "frozen encoder, cached features; a ridge head solved in closed form, alpha by LOO on train"
    Options = RidgeProbeOptions
    #: alpha is chosen inside fit, on the training rows: nothing for Optuna to tune
    search_space: ClassVar[dict[str, Any]] = {}
    options: RidgeProbeOptions

    def problem(self, head: HeadSpec) -> str | None:
        if head.kind not in KINDS:
            return (f"ridge_probe fits least squares to labels or values ({', '.join(KINDS)}); this task's "
                    f"head is {head.kind!r} (a span's start and end over a passage are not a regression "
                    "target): use linear_probe")
        return None

    def run_facts(self) -> dict[str, Any]:
        return {"precision": self.options.precision}

    def _probe(self) -> LinearProbe:
        """The linear probe whose feature cache, head and cost accounting this strategy reuses: a
        linear head without dropout on the same features."""
        o = self.options
        return LinearProbe(self.name, LinearProbeOptions(
            pooling=o.pooling, layers=o.layers, head="linear", dropout=0.0, precision=o.precision,
            eval_batch_size=o.eval_batch_size))

    def fit(self, job: Job) -> Fitted:
        problem = self.problem(job.task.head)
        if problem:
            raise ValueError(problem)
        probe = self._probe()
        fitted = probe._fitted(job)
        rows = fitted.rows("train")  # the features: extracted now, or read from the cache
        fitted.compute = probe._extraction(job, fitted, ("train",))
        features, targets = training_matrix(rows)
        solution = solve(job.task.head, features, targets, self.options.alphas)
        write_head(fitted.module, job.task.head, solution)
        # one pass over the training rows, no optimizer step (the kNN probe's accounting)
        fitted.compute.examples_seen, fitted.compute.epochs = len(rows), 1.0
        grid = self.options.alphas
        pooled = {} if job.task.head.kind == "token_classification" else {"pooling": probe._pooling(job)}
        fitted.details = {**pooled, "alpha": solution.alpha, "alphas": list(grid),
                          "alpha_at_edge": solution.alpha in (grid[0], grid[-1]) and len(grid) > 1,
                          "cv": "leave-one-out (GCV) on the training rows",
                          "fit_rows": int(features.shape[0])}
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        return self._probe().load(job, directory)


class Solution:
    """A ridge fit: ``weight`` [outputs, features], ``bias`` [outputs] and the chosen ``alpha``."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, alpha: float):
        self.weight, self.bias, self.alpha = weight, bias, alpha


def training_matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) of the training rows (``tlbench.engine.features.labelled_matrix``)."""
    from tlbench.engine.features import labelled_matrix

    return labelled_matrix(rows)


def solve(spec: HeadSpec, features: np.ndarray, targets: np.ndarray, alphas: tuple[float, ...]) -> Solution:
    """The ridge solution for ``spec``'s kind, alpha chosen by efficient leave-one-out over ``alphas``
    (scikit-learn's GCV: squared error of the leave-one-out predictions, on the +-1 targets for a
    classifier). Classification: one output per label; labels absent from the training rows get the
    solution an all -1 target has (weights 0, bias -1)."""
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV

    x = features.astype(np.float64)
    if spec.kind == "regression":
        reg = RidgeCV(alphas=alphas).fit(x, targets.astype(np.float64))
        return Solution(np.asarray(reg.coef_).reshape(1, -1), np.asarray(reg.intercept_).reshape(1),
                        float(reg.alpha_))
    y = targets.astype(np.int64)
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"ridge_probe needs two labels or more among the training rows, found "
                         f"{present.tolist()}")
    if present.min() < 0 or present.max() >= spec.num_labels:
        raise ValueError(f"training labels {present.tolist()} outside 0..{spec.num_labels - 1}")
    clf = RidgeClassifierCV(alphas=alphas).fit(x, y)
    coef, intercept = np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    if len(clf.classes_) == 2:  # one decision value d for the second class: scores (-d, d), as +-1 targets
        coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
    weight = np.zeros((spec.num_labels, x.shape[1]))
    bias = np.full(spec.num_labels, -1.0)
    weight[clf.classes_], bias[clf.classes_] = coef, intercept
    return Solution(weight, bias, float(clf.alpha_))


def write_head(module: Any, spec: HeadSpec, solution: Solution) -> None:
    """Put the solution into the probe's linear head (``FeatureModel.head``: dropout, then linear)."""
    import torch

    linear = module.head[-1]
    if tuple(linear.weight.shape) != solution.weight.shape:
        raise ValueError(f"head {tuple(linear.weight.shape)} vs ridge solution {solution.weight.shape}")
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(solution.weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(solution.bias, dtype=linear.bias.dtype))


@hookimpl
def register_strategies(register: Register) -> None:
    register("ridge_probe", RidgeProbe)
