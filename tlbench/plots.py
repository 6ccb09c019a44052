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
    """Score against training examples (log scale), one line per strategy, 95% t-interval bands over
    the replicates (seeds, or training subsets × seeds); per-class sizes name their ticks."""
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
    per_class = {p["rows"]: p["label"] for ps in curve["strategies"].values() for p in ps
                 if str(p.get("label", "")).endswith("/class")}
    if per_class:  # per-class sizes: each tick says both
        ax.set_xticks(sorted(per_class), [f"{x:,.0f}\n({per_class[x]})" for x in sorted(per_class)])
        ax.minorticks_off()
    replicates = max((p.get("subsets", 1) for ps in curve["strategies"].values() for p in ps), default=1)
    ax.set_xlabel("training examples" + (f" (each point: {replicates} training subsets × seeds)"
                                         if replicates > 1 else ""))
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
    ``train_sizes`` axis, ``plots/curve_<task>.png``; under ``"across tasks"`` the
    critical-difference diagram ``plots/critical_difference.png``."""
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
    friedman = (analysis.get("ranks") or {}).get("friedman")
    if friedman:
        out["across tasks"] = [critical_difference(
            analysis["ranks"]["strategies"], friedman["mean_ranks"], friedman["cd"],
            directory / "critical_difference.png",
            title=f"Mean rank over {friedman['n']} tasks (Nemenyi, α = {friedman['alpha']})")]
    return out


def critical_difference(names: list[str], mean_ranks: list[float], cd: float, path: Path,
                        title: str = "") -> Path:
    """A critical-difference diagram (Demšar 2006, fig. 1): the rank axis 1..k (1 = best, on the left),
    each strategy a line to its name and mean rank, the better half on the left, a thick bar joining
    each group the Nemenyi test does not separate (:func:`tlbench.ranks.cliques`), and a bar of length
    CD above the axis."""
    from tlbench.ranks import cliques

    if len(names) != len(mean_ranks) or len(names) < 2:
        raise ValueError(f"a CD diagram needs a mean rank for each of 2 or more names, got "
                         f"{len(names)} names and {len(mean_ranks)} ranks")
    k = len(names)
    order = sorted(range(k), key=lambda i: (mean_ranks[i], i))
    left, right = order[:(k + 1) // 2], order[(k + 1) // 2:][::-1]  # outermost row = furthest rank
    groups = cliques(mean_ranks, cd)
    # sizes in inches; data x in ranks, data y in inches (0 = the axis, labels below)
    axis_in = 4.8
    label_in = [0.15 * axis_in + 0.1 + 0.08 * max(len(f"{names[i]} (0.00)") for i in side)
                for side in (left, right)]
    span = max(k - 1, 1)
    title_in = 0.35 if title else 0.0
    top = 0.88 + title_in
    bars_start = -0.18
    rows_start = bars_start - 0.14 * len(groups) - 0.15
    bottom = rows_start - 0.27 * (max(len(left), len(right)) - 1) - 0.25
    plt, fig = _figure(axis_in + sum(label_in), top - bottom)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    per_in = span / axis_in  # ranks per inch
    ax.set_xlim(1 - label_in[0] * per_in, max(k + label_in[1] * per_in, 1 + cd + 0.1 * span))
    ax.set_ylim(bottom, top)
    ax.axis("off")
    # the rank axis, ticks up, numbers above
    ax.plot([1, k], [0, 0], color="black", linewidth=1.2)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.09], color="black", linewidth=1.2)
        ax.text(t, 0.13, str(t), ha="center", va="bottom", fontsize=9)
        if t < k:
            ax.plot([t + 0.5, t + 0.5], [0, 0.05], color="black", linewidth=0.8)
    # the CD bar, from rank 1
    y_cd = 0.55
    ax.plot([1, 1 + cd], [y_cd, y_cd], color="black", linewidth=1.2)
    for x in (1, 1 + cd):
        ax.plot([x, x], [y_cd - 0.05, y_cd + 0.05], color="black", linewidth=1.2)
    ax.text(1 + cd / 2, y_cd + 0.07, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    # each strategy: down from its rank, out to its side
    for side, members in (("left", left), ("right", right)):
        for row, i in enumerate(members):
            y = rows_start - 0.27 * row
            r = mean_ranks[i]
            end = 1 - 0.12 * span if side == "left" else k + 0.12 * span
            ax.plot([r, r, end], [0, y, y], color="black", linewidth=0.9)
            ax.plot([r], [0], marker="o", markersize=3, color="black")
            label = f"{names[i]} ({r:.2f})" if side == "left" else f"({r:.2f}) {names[i]}"
            ax.text(end + (-0.03 if side == "left" else 0.03) * span, y, label, fontsize=9, va="center",
                    ha="right" if side == "left" else "left")
    # groups not separated: thick bars just below the axis, a little past their ends
    for g, group in enumerate(groups):
        lo, hi = mean_ranks[group[0]], mean_ranks[group[-1]]
        y = bars_start - 0.14 * g
        ax.plot([lo - 0.03 * span, hi + 0.03 * span], [y, y], color="black", linewidth=3.5,
                solid_capstyle="butt")
    if title:
        ax.text((1 + k) / 2, top - 0.08, title, ha="center", va="top", fontsize=10)
    fig.savefig(path)
    plt.close(fig)
    return path
