"""The leaderboard's figures (matplotlib, PNG): per task, a Pareto frontier of score against cost,
and the spread of scores over seeds. Drawn from the analysis dict only (no records, no training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower cost (x) and higher score (y), or equal
    in one and better in the other."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 >= y) and (x2 < x or y2 > y)
                        for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def _proportion_axis(ax: Any, values: list[float]) -> None:
    """A score in [0, 1] keeps its axis in [0, 1]: with two or three seeds a t-interval can reach past
    the metric's range, and the bars are then cut at the edge rather than stretching the axis."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if finite and 0.0 <= min(finite) and max(finite) <= 1.0:
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 1.0))


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height), dpi=110)


def pareto(task: str, entry: dict[str, Any], path: Path) -> Path | None:
    """Score against trainable parameters and against train time, frontier points circled."""
    names = [s for s, x in entry["strategies"].items() if x["mean"] is not None]
    if not names:
        return None
    plt, fig = _figure(10, 4.2)
    for k, (key, label) in enumerate((("trainable_params", "trainable parameters"),
                                      ("train_seconds", "train time per run (s)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        pts = [(max(entry["strategies"][s]["cost"][key] or 0.0, 1e-9), entry["strategies"][s]["mean"])
               for s in names]
        front = set(pareto_front(pts))
        for i, (s, (x, y)) in enumerate(zip(names, pts, strict=True)):
            e = entry["strategies"][s]
            half = (e["ci95_t"][1] - e["ci95_t"][0]) / 2 if e["n"] > 1 and np.isfinite(e["ci95_t"][0]) else 0
            ax.errorbar([x], [y], yerr=[half], fmt="o", capsize=3, color=f"C{i % 10}", label=s)
            if i in front:
                ax.scatter([x], [y], s=220, facecolors="none", edgecolors="black", linewidths=1.2)
            ax.annotate(s, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
        xs = sorted(pts[i] for i in front)
        ax.plot([p[0] for p in xs], [p[1] for p in xs], "k--", linewidth=0.8)
        if key == "trainable_params" and max(p[0] for p in pts) / max(min(p[0] for p in pts), 1e-9) > 100:
            ax.set_xscale("log")
        _proportion_axis(ax, [y for _, y in pts])
        ax.set_xlabel(label + " (lower is cheaper)")
        ax.set_ylabel(f"{entry['primary_metric']} (report, mean ± 95% CI)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{entry['label']}: score against cost (circled: Pareto frontier)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def seed_spread(task: str, entry: dict[str, Any], path: Path) -> Path | None:
    """Each seed's score per strategy, with the mean and its 95% t-interval."""
    names = [s for s, x in entry["strategies"].items() if x["values"]]
    if not names:
        return None
    plt, fig = _figure(max(4.5, 1.2 * len(names) + 2), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    for i, s in enumerate(names):
        e = entry["strategies"][s]
        jitter = np.linspace(-0.12, 0.12, len(e["values"])) if len(e["values"]) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), e["values"], color=f"C{i % 10}", alpha=0.8, zorder=3)
        if e["n"] > 1 and np.isfinite(e["ci95_t"][0]):
            err = [[e["mean"] - e["ci95_t"][0]], [e["ci95_t"][1] - e["mean"]]]
            ax.errorbar([i + 0.3], [e["mean"]], yerr=err, fmt="_", color="black", capsize=4)
    _proportion_axis(ax, [v for s in names for v in entry["strategies"][s]["values"]])
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(f"{entry['primary_metric']} (report)")
    ax.set_title(f"{entry['label']}: one dot per seed; bar: mean and 95% CI")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def learning_curve(task: str, curve: dict[str, Any], label: str, path: Path) -> Path | None:
    """Score against training examples (log scale), one line per strategy, 95% t-interval bands."""
    if not any(len(points) > 1 for points in curve["strategies"].values()):
        return None
    plt, fig = _figure(6.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for i, (s, points) in enumerate(curve["strategies"].items()):
        x = [p["rows"] for p in points]
        y = [p["mean"] for p in points]
        ax.plot(x, y, "o-", color=f"C{i % 10}", label=s)
        low = [p["ci95_t"][0] if p["n"] > 1 and np.isfinite(p["ci95_t"][0]) else p["mean"] for p in points]
        high = [p["ci95_t"][1] if p["n"] > 1 and np.isfinite(p["ci95_t"][1]) else p["mean"] for p in points]
        ax.fill_between(x, low, high, color=f"C{i % 10}", alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel(f"{curve['metric']} (report, mean and 95% CI)")
    ax.set_title(f"{label}: learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw(analysis: dict[str, Any], directory: Path) -> dict[str, list[Path]]:
    """All figures, by task: ``plots/pareto_<task>.png``, ``plots/seeds_<task>.png`` and, with a
    ``train_sizes`` axis, ``plots/curve_<task>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {}
    for task, entry in analysis["tasks"].items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in task)
        paths = [pareto(task, entry, directory / f"pareto_{safe}.png"),
                 seed_spread(task, entry, directory / f"seeds_{safe}.png")]
        if task in analysis.get("curves", {}):
            paths.append(learning_curve(task, analysis["curves"][task], entry["label"],
                                        directory / f"curve_{safe}.png"))
        out[task] = [p for p in paths if p]
    return out
