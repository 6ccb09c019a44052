"""The leaderboard's Findings: generated sentences that claim no more than the statistics support."""

from __future__ import annotations

from typing import Any

import pytest

from tests.records import record
from tests.unit.test_report import BASE, shifted
from tlbench.analysis import analyse, versus
from tlbench.findings import Finding, findings, findings_markdown
from tlbench.record import Trivial
from tlbench.report import leaderboard
from tlbench.stats import format_p


def texts(found: list[Finding], kind: str | None = None, scope: str = "sst2") -> list[str]:
    return [f.text for f in found if f.scope == scope and (kind is None or f.kind == kind)]


def separable_leader() -> list:
    """lora leads sst2 by 150 items of 1,000 over fine-tuning (the baseline) and by 140 over the
    probe: both separable; bitfit trails lora by two items (it misses one of lora's 150 and one that
    every other strategy gets): a tie."""
    records = [record(seed=s, items=BASE) for s in range(3)]
    records += [record("lora", seed=s, items=shifted(150, 0), trainable_params=300_000) for s in range(3)]
    records += [record("linear_probe", seed=s, items=shifted(10, 0), trainable_params=770) for s in range(3)]
    records += [record("bitfit", seed=s, items=shifted(149, 1), trainable_params=100_000) for s in range(3)]
    return records


def test_a_separable_leader_is_named_with_the_strategies_it_is_separable_from_and_their_holm_p():
    a = analyse(separable_leader(), baseline="full_finetune")
    e = a["tasks"]["sst2"]
    assert e["leader"] == "lora" and set(e["leader_comparisons"]) == {"linear_probe", "bitfit"}
    found = findings(a)
    (lead,) = texts(found, "leader")
    assert lead.startswith("Highest accuracy mean: lora 0.650 (")
    (separable,) = texts(found, "separable")
    to_ft, to_probe = e["comparisons"]["lora"], e["leader_comparisons"]["linear_probe"]
    assert to_ft["verdict"] == "better" and to_probe["verdict"] == "worse"
    assert separable.startswith("lora is separable from full_finetune (Δ +0.150, 95% CI [")
    assert f"Holm p {format_p(to_ft['p_holm'])}) and linear_probe (Δ +0.140" in separable
    assert f"Holm p {format_p(to_probe['p_holm'])})" in separable and "bitfit" not in separable
    # the tie, with its MDE, never "equal"
    tie = e["leader_comparisons"]["bitfit"]
    (tied,) = texts(found, "tie")
    assert tie["verdict"] == "tie" and tied.startswith("lora cannot be separated from bitfit (Δ +0.002")
    assert f"Holm p {format_p(tie['p_holm'])}, MDE ±{tie['mde']:.3f})" in tied
    assert not any("equal" in f.text.replace("not equal", "") for f in found)


def test_the_family_is_every_pair_and_the_page_prints_each():
    records = separable_leader()
    a = analyse(records, baseline="full_finetune")
    fam = a["statistics"]["family"]
    # 4 strategies on one task: 6 pairs, whichever leads; the leader's and the baseline's are among them
    assert (fam["size"], fam["pairs"], fam["per_task"]) == (6, 6, {"sst2": 6})
    e = a["tasks"]["sst2"]
    held = [c for row in e["pairwise"].values() for c in row.values()]
    assert all(c["p_holm"] >= c["p_value"] for c in held) and len(held) == 6
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert "one family of **6 comparisons**: every pair of strategies on each task (6 on sst2)" in md
    tables = md.split("## Across tasks", 1)[0]
    # 3 against the baseline, 3 against the leader lora (its pair with the baseline among them)
    assert sum("(Holm p " in line for line in tables.splitlines()) == 6
    assert "| strategy | Δ vs lora (95% CI) | verdict (family-wide Holm p) |" in md
    turned = e["comparisons"]["lora"]
    low, high = -turned["ci95"][1], -turned["ci95"][0]
    assert f"| full_finetune | -0.150 [{low:+.3f}, {high:+.3f}] | **worse** (Holm p " \
        f"{format_p(turned['p_holm'])}) |" in md
    assert "| lora | – | +0.002 tie | +0.140 **better** | +0.150 **better** |" in md  # its matrix row
    (family,) = texts(findings(a), "family", "across tasks")
    assert family.startswith("Every verdict above is from one Holm family of 6 comparisons: every pair of "
                             "strategies on every task (6 on sst2), α = 0.05.")
    assert "is the same whichever strategy is the baseline or leads" in family
    assert "Holm does not correct for" not in family
    # the page opens with the findings
    lines = md.splitlines()
    assert lines[2] == "## Findings"
    assert md.index("## Findings") < md.index("## Method") < md.index("## Summary")
    assert "### On sst2" in md and "- lora is separable from full_finetune" in md


def test_a_difference_holm_does_not_support_is_not_claimed():
    """lora gains 24 items and loses 12 (raw p just under 0.05): alone it would be separable; in the
    family of every pair (3 here) it is not, and the finding says that its unadjusted interval
    excludes 0 but not after the correction."""
    records = [record(seed=s, items=BASE) for s in range(3)]
    records += [record("lora", seed=s, items=shifted(24, 12)) for s in range(3)]
    records += [record("linear_probe", seed=s, items=BASE) for s in range(3)]
    a = analyse(records, baseline="full_finetune")
    c = a["tasks"]["sst2"]["comparisons"]["lora"]
    assert c["p_value"] < 0.05 < c["p_holm"] and c["verdict"] == "tie"
    found = findings(a)
    assert not texts(found, "separable")
    (tied,) = texts(found, "tie")
    assert tied.startswith("lora cannot be separated from full_finetune (Δ +0.012")
    assert "The unadjusted intervals of full_finetune and linear_probe exclude 0, but not after the " \
           "family-wide correction." in tied


def test_cells_not_above_trivial_or_still_improving_are_named_and_excluded_from_claims():
    """lora has the highest mean but one of its runs was still improving; bitfit is below the trivial
    baseline (0.45): neither leads nor appears in a claim; the probe leads."""
    def trivial(r):
        return r.but(trivial=Trivial(method="majority class 'x' of the training split (500 of 1,000 rows)",
                                     metrics={"accuracy": 0.45, "macro_f1": 0.3}))

    below = [1.0] * 420 + [0.0] * 580
    records = [record(seed=s, items=BASE) for s in range(3)]
    records += [record("lora", seed=s, items=shifted(200, 0)).but(still_improving=s == 1) for s in range(3)]
    records += [record("linear_probe", seed=s, items=shifted(100, 0)) for s in range(3)]
    records += [record("bitfit", seed=s, items=below) for s in range(3)]
    a = analyse([trivial(r) for r in records], baseline="full_finetune")
    e = a["tasks"]["sst2"]
    assert e["leader"] == "linear_probe" and e["strategies"]["bitfit"]["above_trivial"] is False
    fam = a["statistics"]["family"]
    # the pairs of fine-tuning, lora and the probe; bitfit's three pairs are left out
    assert (fam["size"], fam["pairs"], fam["not_above_trivial"]) == (3, 6, 3)
    assert all(c["verdict"] is None and c["above_trivial"] is False for c in
               (versus(e, "bitfit", s) for s in ("full_finetune", "lora", "linear_probe")))
    found = findings(a)
    (lead,) = texts(found, "leader")
    assert lead.startswith("The highest accuracy mean, lora 0.700 (")
    assert "is excluded from claims (still improving in 1 of 3 runs); among the cells open to claims the " \
           "highest is linear_probe 0.600" in lead
    excluded = texts(found, "excluded")
    assert any(t.startswith("Not above the trivial baseline (accuracy 0.450), so without verdicts and "
                            "excluded from claims: bitfit 0.420") for t in excluded)
    assert any(t.startswith("Still improving when training ended, so excluded from claims: lora in 1 of 3 "
                            "runs, score 0.700 (") for t in excluded)
    claims = [f.text for f in found if f.kind in ("separable", "tie", "baseline", "frontier", "dominated")]
    assert claims and not any("lora" in t or "bitfit" in t for t in claims)
    assert any(t.startswith("linear_probe is separable from full_finetune (Δ +0.100") for t in claims)
    md = "\n".join(findings_markdown(a))
    assert md.startswith("## Findings") and "- Still improving when training ended" in md


def test_the_cost_frontier_is_by_mean_and_a_domination_is_named_only_when_a_verdict_supports_it():
    found = findings(analyse(separable_leader(), baseline="full_finetune"))
    frontier = texts(found, "frontier")
    assert frontier[0].startswith("Cost frontier by mean, accuracy against trainable parameters, among the 4 "
                                  "cells open to claims")
    assert frontier[0].endswith("linear_probe 0.510 with 770 parameters, bitfit 0.648 with 100.0k parameters "
                                "and lora 0.650 with 300.0k parameters.")
    dominated = texts(found, "dominated")
    # fine-tuning: more parameters and a lower score than lora, separable; on training time (all 75 s)
    # lora also dominates the probe (separable) but bitfit only by mean (a tie)
    assert dominated[0].startswith("Dominated on trainable parameters, with the score difference separable: "
                                   "full_finetune by ")
    assert "linear_probe by lora (1 min 15 s against 1 min 15 s; Δ +0.140" in dominated[1]
    assert not any("bitfit" in t for t in dominated)
    assert ("Off that frontier by mean only (no family verdict separates them from a cell that costs as "
            "little or less with a higher mean): bitfit.") in frontier


def fake(diffs: list[tuple[float, float, float]], verdict: str = "tie") -> dict[str, Any]:
    """An analysis dict with one task (fine-tuning the baseline, lora the leader) and a learning curve
    of the baseline against lora: (delta, low, high) at 16, 32 and 64 rows; the tables' comparison at
    64 rows (lora minus the baseline: +0.1) has ``verdict``."""
    def cell(mean: float) -> dict[str, Any]:
        return {"mean": mean, "ci95_t": [mean - 0.01, mean + 0.01], "n": 3, "above_trivial": True,
                "still_improving": {"count": 0, "of": 3}, "cost": {}}

    c = {"delta": 0.1, "ci95": [0.05, 0.15], "p_value": 0.001, "p_holm": 0.001 if verdict != "tie" else 0.2,
         "mde": 0.05, "verdict": verdict, "testable": True, "items_ci95": [0.06, 0.14], "seeds": [3, 3]}
    task = {"primary_metric": "accuracy", "label": "sst2", "trivial": None, "above_trivial": None,
            "contamination": "m was trained on sst2_pairs (listed in its card).", "baseline": "full_finetune",
            "leader": "lora", "strategies": {"full_finetune": cell(0.5), "lora": cell(0.6)},
            "comparisons": {"lora": c}, "leader_comparisons": {}}
    points = [{"rows": rows, "label": f"{rows // 2}/class", "delta": d, "ci95": [low, high], "n": [3, 3]}
              for rows, (d, low, high) in zip((16, 32, 64), diffs, strict=True)]
    return {"baseline": "full_finetune", "tasks": {"sst2": task}, "statistics": {"alpha": 0.05, "family": {}},
            "curves": {"sst2": {"differences": {"lora": points}}}, "ranks": {}, "mean_rank": {}}


@pytest.mark.parametrize(("diffs", "verdict", "orders", "crossover"), [
    # the baseline ahead at 8/class (interval above 0), lora ahead at the tables' size (verdict): supported
    ([(0.08, 0.02, 0.14), (0.0, -0.05, 0.05), (-0.1, -0.15, -0.05)], "better", True, True),
    # the same means, but the small size's interval includes 0: no order there, no crossover
    ([(0.08, -0.01, 0.17), (0.0, -0.05, 0.05), (-0.1, -0.15, -0.05)], "better", False, False),
    # an order at 8/class, a tie at the tables' size: an order, no crossover
    ([(0.08, 0.02, 0.14), (0.0, -0.05, 0.05), (-0.1, -0.15, -0.05)], "tie", True, False),
])
def test_a_learning_curve_order_or_crossover_is_stated_only_where_the_intervals_support_it(
        diffs, verdict, orders, crossover):
    found = texts(findings(fake(diffs, verdict)), "curve")
    stated = [t for t in found if t.startswith("Learning curve at ")]
    assert bool(stated) == orders
    if orders:
        assert stated[0].endswith("(unadjusted, not in the family): full_finetune above lora at 8/class "
                                  "(Δ +0.080 [+0.020, +0.140]).")
        assert stated[0].startswith("Learning curve at 8/class and 16/class, Welch")
        assert "32/class" not in stated[0]  # never at the tables' size: the family verdict rules there
    assert ("A crossover of full_finetune with lora is supported: opposite orders at two sizes." in found) \
        == crossover
    assert ("No crossover with full_finetune is supported at the sizes run." in found) == (not crossover)


def test_contamination_marks_and_tasks_where_nothing_beats_trivial():
    a = fake([(0.0, -0.1, 0.1)] * 3)
    assert "Contamination mark: m was trained on sst2_pairs (listed in its card)." in texts(findings(a))
    e = a["tasks"]["sst2"]
    e.update(trivial={"method": "first sentence", "score": 0.7}, above_trivial=False)
    for x in e["strategies"].values():
        x["above_trivial"] = False
    (none,) = texts(findings(a), "no_claims")
    assert none.startswith("No strategy is above the trivial baseline (first sentence: accuracy 0.700); "
                           "the highest mean is lora 0.600 (95% t-interval [0.590, 0.610], n=3).")
    assert not texts(findings(a), "leader") and not texts(findings(a), "tie")


def test_mean_ranks_with_intervals_need_two_tasks():
    records = [record(task=t, seed=s, items=BASE) for t in ("sst2", "imdb") for s in range(3)]
    records += [record("lora", task=t, seed=s, items=shifted(50, 0))
                for t in ("sst2", "imdb") for s in range(3)]
    a = analyse(records, baseline="full_finetune")
    ranks = texts(findings(a), "ranks", "across tasks")
    iv = a["ranks"]["intervals"]["lora"]
    assert ranks[0].startswith("Mean rank over 2 tasks (sst2, imdb; 1 is best, 95% bootstrap interval, "
                               f"P(best)): lora 1.00 [{iv['low']:.2f}, {iv['high']:.2f}], "
                               f"P(best) {iv['p_best']:.2f}")
    assert "With 2 tasks the test has little power" in ranks[1]
    one = analyse([r for r in records if r.task == "sst2"], baseline="full_finetune")
    assert texts(findings(one), "ranks", "across tasks") == ["1 task ranked: no claim across tasks."]
