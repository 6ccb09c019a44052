"""The one Holm family: every pair of strategies on every task, declared before any mean is seen, so
that the comparisons the page shows (with the baseline, with a task's leader, the pairwise matrix)
are all members of a family that does not depend on which strategy leads or is the baseline."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest

from tests.records import record
from tlbench.analysis import analyse, versus
from tlbench.record import RunRecord
from tlbench.report import leaderboard
from tlbench.report_stats import pair_cell

BASE = [1.0] * 500 + [0.0] * 500
NAMES = ("full_finetune", "linear_probe", "lora", "bitfit", "setfit")


def shifted(gains: int, losses: int, seed: int = 0) -> list[float]:
    """BASE, right on ``gains`` items it gets wrong and wrong on ``losses`` it gets right; each seed
    also flips two items of its own (seed variance)."""
    x = list(BASE)
    x[500: 500 + gains] = [1.0] * gains
    x[:losses] = [0.0] * losses
    for i in (600 + 2 * seed, 601 + 2 * seed):
        x[i] = 1.0 - x[i]
    return x


def five(lone: bool = False) -> list[RunRecord]:
    """5 strategies on sst2 and imdb, 3 seeds each: lora and setfit well ahead of fine-tuning (setfit
    the leader on sst2), the probe and bitfit near it. ``lone``: bitfit has one seed on imdb."""
    shifts = {"full_finetune": (0, 0), "linear_probe": (12, 6), "lora": (120, 0), "bitfit": (20, 30),
              "setfit": (150, 5)}
    out = []
    for t, extra in (("sst2", 0), ("imdb", 30)):
        for s in NAMES:
            gains, losses = shifts[s]
            seeds = 1 if lone and t == "imdb" and s == "bitfit" else 3
            out += [record(s, task=t, seed=k, items=shifted(gains + (extra if s == "lora" else 0), losses, k))
                    for k in range(seeds)]
    return out


def members(a: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(t, x, y, c) for t, e in a["tasks"].items() for x, row in e["pairwise"].items()
            for y, c in row.items() if c["p_holm"] is not None]


def test_the_family_is_every_testable_pair_on_every_task():
    a = analyse(five(lone=True), baseline="full_finetune", n_resamples=1000)
    fam = a["statistics"]["family"]
    # 10 pairs a task; on imdb bitfit's 4 have a one-seed side: no verdict, not in the family
    assert (fam["size"], fam["pairs"], fam["untestable"], fam["per_task"]) == (16, 20, 4, {"sst2": 10,
                                                                                           "imdb": 6})
    assert len(members(a)) == 16
    for t, e in a["tasks"].items():  # each unordered pair once, the first in table order minus the second
        held = [(x, y) for x, row in e["pairwise"].items() for y in row]
        assert held == list(combinations(NAMES, 2))
        for x, y in held:
            c = e["pairwise"][x][y]
            assert c["testable"] == (not (t == "imdb" and "bitfit" in (x, y)))
            assert (c["verdict"] is None) == (not c["testable"])


def test_a_data_selected_leaders_comparisons_are_members_of_the_family():
    a = analyse(five(), baseline="full_finetune", n_resamples=1000)
    e = a["tasks"]["sst2"]
    assert e["leader"] == "setfit"  # the highest mean, chosen after seeing the means
    assert set(e["leader_comparisons"]) == {"linear_probe", "lora", "bitfit"}
    held = {(t, x, y): c for t, x, y, c in members(a)}
    for s, c in e["leader_comparisons"].items():
        pair = held.get(("sst2", s, "setfit")) or held[("sst2", "setfit", s)]
        # the same numbers as the family's member, turned round where the pair is held the other way
        assert c["p_holm"] == pair["p_holm"] and c["verdict"] == versus(e, s, "setfit")["verdict"]
        assert abs(c["delta"]) == abs(pair["delta"]) and c["p_value"] == pair["p_value"]
    for s, c in e["comparisons"].items():  # and the baseline's
        assert c == versus(e, s, "full_finetune")
        assert c["p_holm"] is not None
    # a member's p_holm is Holm's over all 20 pairs, not over a smaller family around the leader
    ps = sorted(c["p_value"] for *_, c in members(a))
    lowest = min(members(a), key=lambda m: m[3]["p_value"])[3]
    assert lowest["p_holm"] == pytest.approx(min(1.0, 20 * ps[0]))


def test_verdicts_are_the_same_whichever_strategy_is_the_baseline():
    records = five(lone=True)
    runs = {b: analyse(records, baseline=b, n_resamples=1000) for b in NAMES}
    first = runs[NAMES[0]]
    keys = ("delta", "ci95", "se", "df", "p_value", "p_holm", "verdict", "mde")

    def numbers(a: dict[str, Any]) -> dict[Any, Any]:
        return {(t, x, y): {k: c[k] for k in keys} for t, x, y, c in
                [(t, x, y, c) for t, e in a["tasks"].items() for x, row in e["pairwise"].items()
                 for y, c in row.items()]}

    assert any(c["verdict"] in ("better", "worse") for *_, c in members(first))
    assert any(c["verdict"] == "tie" for *_, c in members(first))
    for b, a in runs.items():
        assert numbers(a) == numbers(first), b
        assert a["statistics"]["family"] == first["statistics"]["family"]
        for t, e in a["tasks"].items():  # the baseline's table is a view of the same pairs
            for s, c in e["comparisons"].items():
                assert c["verdict"] == versus(first["tasks"][t], s, b)["verdict"]
                assert c["delta"] == versus(first["tasks"][t], s, b)["delta"]


def matrix(md: str, label: str) -> dict[tuple[str, str], str]:
    """The pairwise matrix of the task section ``label`` in LEADERBOARD.md: (row, column) -> cell."""
    section = md.split(f"\n## {label}\n", 1)[1].split("\n## ", 1)[0]
    lines = section.split("| row − column | ", 1)[1].splitlines()
    columns = lines[0].rstrip(" |").split(" | ")
    out = {}
    for line in lines[2:]:
        if not line.startswith("| "):
            break
        row, *cells = line.strip("| ").split(" | ")
        out.update({(row, c): v for c, v in zip(columns, cells, strict=True)})
    return out


def test_every_member_of_the_family_is_printed_in_the_markdown_matrix():
    records = five(lone=True)
    a = analyse(records, baseline="full_finetune", n_resamples=1000)
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    for e in a["tasks"].values():
        shown = matrix(md, e["label"])
        assert len(shown) == 25 and all(shown[(s, s)] == "–" for s in NAMES)
        for x, row in e["pairwise"].items():
            for y, c in row.items():
                assert shown[(x, y)] == pair_cell(c)
                assert shown[(y, x)] == pair_cell(versus(e, y, x))
                assert shown[(x, y)].startswith(f"{c['delta']:+.3f} ")
                if c["p_holm"] is not None:  # a member: its verdict, both ways round
                    assert c["verdict"] in shown[(x, y)]
                else:
                    assert shown[(x, y)].endswith("(no verdict)")
    assert ("one family of **16 comparisons**: every pair of strategies on each task (10 on sst2, 6 on "
            "imdb)") in md
