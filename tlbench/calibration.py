"""Calibration of a classifier's probabilities: ECE, Brier score and NLL, before and after
temperature scaling. numpy and scipy only (torch-free): the runner calls :func:`calibrate` with the
class scores a task gives (``Task.class_scores``) for the selection and report splits, and the
record keeps the result (``RunRecord.calibration``).

Definitions (``n`` report items, ``K`` classes, ``p`` an item's predicted class probabilities, ``y``
its gold class):

- **ECE** (expected calibration error; Naeini et al. 2015, Guo et al. 2017): the top-class
  probability ``max_c p_c`` (the confidence) of every item falls into one of 15 equal-width bins
  ``(b/15, (b+1)/15]`` (a confidence of exactly 0 into the first); ECE is
  ``Σ_bins |bin|/n · |accuracy(bin) − confidence(bin)|``, where accuracy(bin) is the share of the
  bin's items whose top class (arg-max, the first on a tie) is the gold one and confidence(bin)
  their mean confidence. 0 is perfectly calibrated; an always-0.9 classifier right half the time
  scores 0.4.
- **Brier score**, multiclass (Brier 1950's original form): the mean over items of
  ``Σ_c (p_c − [c = y])²``, from 0 (certain and right) to 2 (certain and wrong). A binary task's
  score is twice the one-probability form ``(p_1 − y)²`` that scikit-learn's ``brier_score_loss``
  gives.
- **NLL**: the mean over items of ``−ln p_y``, with ``p_y`` clipped at 1e-12 (so one certain
  mistake costs 27.6, not infinity).
- **Temperature scaling** (Guo et al. 2017): one scalar ``T > 0`` minimising the NLL of
  ``softmax(z / T)`` on the **selection** split (``scipy.optimize.minimize_scalar`` on ``ln T``,
  bounded to ``T`` in [0.01, 100]), then applied to the report split. Dividing every score of an
  item by the same positive ``T`` keeps their order, so the arg-max, hence the accuracy, never
  changes; only the confidences do.

Scores ``z`` are logits (softmax gives the probabilities). A head whose outputs are already
probabilities (non-negative rows summing to 1: the probe's kNN vote shares, a one-hot fake) is read
as such, and its log-probabilities ``ln max(p, 1e-12)`` serve as the logits: softmax gives the same
probabilities back, and temperature scaling raises them to the power ``1/T``, renormalised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from tlbench.record import Calibration

#: equal-width bins of the top-class probability
N_BINS: Final = 15
#: decimals the record keeps of each report probability
DECIMALS: Final = 4
#: probabilities are clipped here before a logarithm
EPS: Final = 1e-12
#: the bounds of a fitted temperature
T_BOUNDS: Final = (0.01, 100.0)
#: how the leaderboard prints the definition
DEFINITION: Final = ("ECE: 15 equal-width bins on the top-class probability; "
                     "Σ |bin|/n · |accuracy − confidence|")


def as_logits(scores: Any) -> tuple[np.ndarray, str]:
    """The scores ``[items, classes]`` as logits (float64), and what they were: ``"logits"``, or
    ``"probabilities"`` when every row is non-negative and sums to 1 (within 1e-4), whose logarithms
    (clipped at 1e-12) then serve as logits."""
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"class scores must be [items, classes] with 2+ classes, not shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("class scores hold NaN or infinite values")
    if len(z) and z.min() >= 0 and np.allclose(z.sum(axis=1), 1.0, rtol=0, atol=1e-4):
        return np.log(np.clip(z, EPS, None)), "probabilities"
    return z, "logits"


def log_softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``logits / temperature`` (rows sum to 1)."""
    return np.exp(log_softmax(logits, temperature))


def _checked(probabilities: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or y.ndim != 1 or len(p) != len(y):
        raise ValueError(f"probabilities {p.shape} and labels {y.shape}: need [n, classes] and [n]")
    if not len(y):
        raise ValueError("no items: calibration is undefined")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("labels must be class ids (integers)")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in [0, {p.shape[1]}); found {int(y.min())} to {int(y.max())}")
    return p, y


Bin = tuple[int, float | None, float | None]


def reliability(probabilities: Any, labels: Any, n_bins: int = N_BINS) -> list[Bin]:
    """Per equal-width bin of the top-class probability, ``(b/n_bins, (b+1)/n_bins]``: (items,
    accuracy, mean confidence); None for an empty bin's accuracy and confidence."""
    p, y = _checked(probabilities, labels)
    confidence = p.max(axis=1)
    right = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins: a confidence on an inner edge belongs to the bin below it
    index = np.digitize(confidence, edges[1:-1], right=True)
    out: list[Bin] = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        out.append((count, float(right[members].mean()), float(confidence[members].mean())) if count
                   else (0, None, None))
    return out


def ece(probabilities: Any, labels: Any, n_bins: int = N_BINS) -> float:
    """Expected calibration error: ``Σ |bin|/n · |accuracy(bin) − confidence(bin)|`` over
    ``n_bins`` equal-width bins of the top-class probability."""
    bins = reliability(probabilities, labels, n_bins)
    n = sum(count for count, _, _ in bins)
    return float(sum(count / n * abs(acc - conf) for count, acc, conf in bins
                     if count and acc is not None and conf is not None))


def brier(probabilities: Any, labels: Any) -> float:
    """Multiclass Brier score: mean over items of ``Σ_c (p_c − [c = y])²`` (0 to 2)."""
    p, y = _checked(probabilities, labels)
    onehot = np.eye(p.shape[1])[y]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def nll(probabilities: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the gold class, ``−ln max(p_y, 1e-12)``."""
    p, y = _checked(probabilities, labels)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], EPS, None)).mean())


def accuracy(probabilities: Any, labels: Any) -> float:
    """Share of items whose top class (arg-max, the first on a tie) is the gold one."""
    p, y = _checked(probabilities, labels)
    return float((p.argmax(axis=1) == y).mean())


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature ``T`` in [0.01, 100] minimising the NLL of ``softmax(logits / T)``
    (exact log-softmax, no clipping), searched on ``ln T`` by bounded Brent."""
    from scipy.optimize import minimize_scalar

    z, y = _checked(logits, labels)
    rows = np.arange(len(y))

    def objective(log_t: float) -> float:
        return float(-log_softmax(z, float(np.exp(log_t)))[rows, y].mean())

    low, high = np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])
    found = minimize_scalar(objective, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    best = float(found.x)
    # Brent may stop just inside a bound where the minimum lies on it; and T = 1 is the no-op
    best = min((best, low, high, 0.0), key=objective)
    return float(np.exp(best))


def metrics(probabilities: Any, labels: Any) -> dict[str, float]:
    """ECE, Brier, NLL and top-class accuracy of ``probabilities``."""
    return {"ece": ece(probabilities, labels), "brier": brier(probabilities, labels),
            "nll": nll(probabilities, labels), "accuracy": accuracy(probabilities, labels)}


def calibrate(select: tuple[Any, Any], report: tuple[Any, Any]) -> Calibration:
    """The record's :class:`tlbench.record.Calibration` from (class scores, gold class ids) of the
    selection and report splits: the report split's metrics as the model gives them, the temperature
    fitted on the selection split, and the report metrics after it; with the report's reliability
    bins and its per-item probabilities (rounded to 4 decimals) and gold labels."""
    from tlbench.record import Calibration

    select_z, _ = as_logits(select[0])
    report_z, kind = as_logits(report[0])
    if select_z.shape[1] != report_z.shape[1]:
        raise ValueError(f"{select_z.shape[1]} classes on the selection split, "
                         f"{report_z.shape[1]} on the report split")
    _, select_y = _checked(select_z, select[1])
    _, report_y = _checked(report_z, report[1])
    temperature = fit_temperature(select_z, select_y)
    raw = softmax(report_z)
    before, after = metrics(raw, report_y), metrics(softmax(report_z, temperature), report_y)
    return Calibration(
        scores=kind, temperature=temperature,
        **before, **{f"{k}_scaled": v for k, v in after.items()},
        bins=reliability(raw, report_y),
        probabilities=np.round(raw, DECIMALS).tolist(), labels=report_y.tolist())


__all__ = ["DECIMALS", "DEFINITION", "N_BINS", "accuracy", "as_logits", "brier", "calibrate", "ece",
           "fit_temperature", "log_softmax", "metrics", "nll", "reliability", "softmax"]
