"""The leaderboard is a pure function of the records."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats as st

from tests.records import record
from tlbench.analysis import analyse
from tlbench.report import human_bytes, human_count, human_seconds, leaderboard, write_report
from tlbench.stats import format_p


def row_of(md: str, strategy: str, after: str = "") -> str:
    lines = md.split(after, 1)[-1].splitlines()
    return next(line for line in lines if line.startswith((f"| {strategy} ", f"| **{strategy}")))


def test_human_numbers():
    assert human_count(22_713_216) == "22.7M" and human_count(1536) == "1.5k" and human_count(12) == "12"
    assert human_bytes(1.3e9) == "1.3 GB" and human_bytes(2048) == "2.0 kB"
    assert human_seconds(252) == "4 min 12 s" and human_seconds(3.25) == "3.2 s"
    assert human_seconds(7322) == "2 h 2 min"


def test_t_interval_per_cell_and_cost_columns():
    records = [record(seed=s, score=v) for s, v in enumerate([0.80, 0.82, 0.84])]
    records += [record("linear_probe", seed=s, score=0.7, trainable_params=770, trainable_share=770 / 22.7e6,
                       stored_bytes=3_200) for s in range(2)]
    md = leaderboard(records, "glue_small", baseline="full_finetune")
    half = st.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    summary = row_of(md, "full_finetune", "## Summary")
    assert f"**0.820 ± {half:.3f} (n=3: 0.800 0.820 0.840)**" in summary and "| 3/3 |" not in summary
    task = row_of(md, "full_finetune", "## sst2")
    assert "22.7M (100.0%)" in task and "90.0 MB" in task and "1 min 15 s" in task and "1.5 GB" in task
    probe = row_of(md, "linear_probe", "## sst2")
    assert "0.700 ± 0.000 (n=2: 0.700 0.700)" in probe and "**770 (0.0%)**" in probe
    assert "**3.2 kB**" in probe
    assert "872 report items (validation.jsonl.gz); 2,000 training and 500 selection rows" in md
    assert "## Provenance" in md and "torch 2.13.0" in md and "sst2: report ab" in md


def test_paired_delta_and_verdicts_against_the_baseline():
    base = [1.0] * 500 + [0.0] * 500
    better = [1.0] * 600 + [0.0] * 400  # right wherever the baseline is, and on 100 items more
    records = [record(seed=s, items=base) for s in range(3)]
    records += [record("lora", seed=s, items=better) for s in range(3)]
    records += [record("linear_probe", seed=s, items=base) for s in range(3)]
    md = leaderboard(records, "s", baseline="full_finetune")
    lora, probe = row_of(md, "lora", "## sst2"), row_of(md, "linear_probe", "## sst2")
    # each strategy's seeds agree, so only the items vary: 100 discordant items of 1,000, a binomial
    # standard error of sqrt(0.1 * 0.9 / 1000) = 0.0095, the interval 0.100 +- 0.019
    assert "+0.100 [+0.08" in lora and "**better** (Holm p < 1e-04)" in lora
    assert "+0.000 [+0.000, +0.000]" in probe and "tie, MDE ±0.000 (Holm p 1)" in probe
    assert "baseline" in row_of(md, "full_finetune", "## sst2")
    assert "McNemar" not in md and "Win probability" not in md
    assert row_of(md, "lora", "P(row outperforms column)").startswith("| lora | – | 1.00 | 1.00 |")
    assert row_of(md, "linear_probe", "P(row outperforms column)").endswith("| 0.00 | 0.50 | – |")


def test_ranks_need_every_task_and_missing_cells_are_named():
    records = [record(task=t, seed=s, score=0.8) for t in ("sst2", "imdb") for s in range(2)]
    records += [record("lora", task="sst2", seed=s, score=0.9) for s in range(2)]
    md = leaderboard(records, "s", baseline="full_finetune")
    assert row_of(md, "lora", "## Summary").endswith("| – | 1/2 |")
    assert "missing" in row_of(md, "lora", "## Summary")
    assert row_of(md, "full_finetune", "## Summary").endswith("| 1.50 | 2/2 |")
    assert "- lora × imdb: missing" in md


def test_cells_the_suite_skips_are_named_as_skipped_not_missing(tmp_path):
    records = [record(task=t, seed=s, score=0.8) for t in ("sst2", "imdb") for s in range(2)]
    records += [record("lora", task="sst2", seed=s, score=0.9) for s in range(2)]
    a = analyse(records, baseline="full_finetune", skipped=[("lora", "imdb")])
    assert [c["task"] for c in a["skipped"]] == ["imdb"] and a["missing"] == []
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert "| skipped |" in row_of(md, "lora", "## Summary") and "missing" not in md
    assert "- lora × imdb: skipped by the suite (`skip = true` in its `[[overrides]]`)" in md
    write_report(records, "s", tmp_path, baseline="full_finetune", html=True, skipped=(("lora", "imdb"),))
    page = (tmp_path / "LEADERBOARD.html").read_text()
    assert "<h2>Skipped cells</h2>" in page and "skipped by the suite" in page
    # a failure stays a failure even where the suite skips the cell now (an older record)
    failed = analyse([*records, record("lora", task="imdb", status="failed")], baseline="full_finetune",
                     skipped=[("lora", "imdb")])
    assert [c["task"] for c in failed["failed"]] == ["imdb"] and failed["skipped"] == []


def test_failures_are_listed_not_averaged():
    records = [record(seed=0, score=0.9), record(seed=1, status="failed")]
    md = leaderboard(records, "s", baseline="full_finetune")
    assert "0.900 (n=1)" in md
    assert "full_finetune × sst2 seed 1: `RuntimeError: out of memory`" in md
    failed_cell = leaderboard([record(), record("lora", status="failed")], "s", baseline="full_finetune")
    assert "- lora × sst2: failed: `RuntimeError: out of memory`" in failed_cell


def test_a_failure_later_fixed_is_not_listed():
    md = leaderboard([record(seed=1, status="failed"), record(seed=1, score=0.5)], "s",
                     baseline="full_finetune")
    assert "Failed runs" not in md and "(n=1)" in md


def test_json_and_csv_hold_every_number(tmp_path):
    records = [record(seed=s, score=v) for s, v in enumerate([0.80, 0.82, 0.84])]
    paths = write_report(records, "s", tmp_path, baseline="full_finetune")
    assert [p.name for p in paths][:3] == ["LEADERBOARD.md", "leaderboard.json", "leaderboard.csv"]
    assert {p.name for p in paths[3:]} == {"pareto_sst2.png", "seeds_sst2.png"}
    assert "![pareto_sst2](plots/pareto_sst2.png)" in (tmp_path / "LEADERBOARD.md").read_text()
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    cell = data["tasks"]["sst2"]["strategies"]["full_finetune"]
    half = st.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    assert cell["values"] == [0.80, 0.82, 0.84] and cell["n"] == 3 and cell["range"] == [0.80, 0.84]
    assert cell["ci95_t"] == pytest.approx([0.82 - half, 0.82 + half])
    assert "ci95_bootstrap" not in cell  # no bootstrap over three seeds: the range is given as such
    assert data["statistics"]["family"]["size"] == 0 and data["statistics"]["n_resamples"] == 10_000
    rows = list(csv.DictReader(open(tmp_path / "leaderboard.csv")))
    assert rows[0]["strategy"] == "full_finetune" and float(rows[0]["mean"]) == pytest.approx(0.82)
    assert (float(rows[0]["min"]), float(rows[0]["max"])) == (0.80, 0.84)
    assert float(rows[0]["ci95_t_low"]) == pytest.approx(0.82 - half)
    assert {"delta", "p_value", "p_holm", "mde", "verdict"} <= set(rows[0])


def test_empty_or_all_failed():
    empty = leaderboard([], "s", baseline="full_finetune")
    assert empty.startswith("# s: leaderboard") and "No records yet: run `tlbench run` first." in empty
    failed = leaderboard([record(status="failed")], "s", baseline="full_finetune")
    assert failed.startswith("# s: leaderboard")
    assert "- full_finetune × sst2: failed: `RuntimeError: out of memory`" in failed
    assert "- full_finetune × sst2 seed 0: `RuntimeError: out of memory`" in failed


def test_declared_secondary_metrics_and_data_notes_reach_the_leaderboard():
    def tagged(seed):
        r = record(task="conll2003", seed=seed)
        metrics = {"f1": 0.5, "precision": 0.4, "recall": 0.6, "accuracy": 0.9, "f1_LOC": 0.7, "f1_PER": 0.8}
        source = {"location": "/d/squad/dev.jsonl.gz", "sha256": "ab",
                  "description": "NOT the official protocol"}
        return r.but(primary_metric="f1", secondary_metrics=("precision", "recall"),
                     metrics={"select": metrics, "report": metrics},
                     data={**r.data.model_dump(), "sources": {"report": source}})

    md = leaderboard([tagged(0), tagged(1)], "s", baseline="full_finetune")
    section = md.split("## conll2003", 1)[1].splitlines()
    header = next(line for line in section if line.startswith("| strategy"))
    assert header.startswith("| strategy | f1 | precision | recall | Δ vs full_finetune")
    assert "f1_LOC" not in md and "Note on the data: NOT the official protocol" in md


def test_pareto_front_keeps_only_undominated_points():
    from tlbench.plots import pareto_front

    points = [(10.0, 0.9), (1.0, 0.7), (5.0, 0.6), (10.0, 0.8), (0.5, 0.7)]
    # (5, 0.6) is beaten by (1, 0.7); (10, 0.8) by (10, 0.9); (1, 0.7) by (0.5, 0.7)
    assert pareto_front(points) == [0, 4]


def test_learning_curves_plot_and_name_the_crossover(tmp_path):
    scores = {"full_finetune": {100: 0.60, 1000: 0.75, "full": 0.85},
              "linear_probe": {100: 0.70, 1000: 0.72, "full": 0.74}}
    records = [record(s, seed=k, train_size=size, score=v + 0.01 * k)
               for s, by_size in scores.items() for size, v in by_size.items() for k in range(3)]
    paths = write_report(records, "s", tmp_path, baseline="full_finetune")
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "`full_finetune`'s mean overtakes `linear_probe`'s from 1,000 training examples on" in md
    # the crossover is the baseline's, whatever the strategies are called
    renamed = [r.but(strategy="ft") if r.strategy == "full_finetune" else r for r in records]
    write_report(renamed, "s", tmp_path / "renamed", baseline="ft")
    assert ("`ft`'s mean overtakes `linear_probe`'s from 1,000 training examples on"
            in (tmp_path / "renamed" / "LEADERBOARD.md").read_text())
    assert "Learning curve over 100, 1,000, 2,000 training examples" in md
    # the order is stated with what the intervals support: here apart at every size (sd 0.01 a cell)
    assert "the 95% interval excludes 0 at every size." in md
    # the tables show the largest size only: 3 seeds, not 9 runs
    assert "0.860 ± " in row_of(md, "full_finetune", "## Summary") and "(n=3: " in md and "(n=9" not in md
    assert (tmp_path / "plots" / "curve_sst2.png") in paths


def test_train_sizes_is_a_grid_axis(tmp_path, with_fakes):
    from tlbench.config import load_suite
    from tlbench.errors import ConfigError
    from tlbench.grid import build_grid

    path = tmp_path / "s.toml"
    path.write_text('models = ["m"]\nseeds = [0]\ntrain_sizes = [10, "full"]\n[tasks.fake_task]\n'
                    '[strategies.fake_strategy]\n')
    cells = build_grid(load_suite(path, with_fakes), with_fakes)
    assert [(c.train_size, c.task_options.max_train_examples) for c in cells] == [(10, 10), ("full", None)]
    assert len({c.id for c in cells}) == 2
    path.write_text(path.read_text().replace('[10, "full"]', "[10, 10]"))
    with pytest.raises(ConfigError, match="train_sizes: positive, distinct sizes"):
        load_suite(path, with_fakes)


def test_negative_transfer_table_names_the_tasks_multitask_lost():
    base = [1.0] * 500 + [0.0] * 500
    records = [record(task=t, seed=s, items=base) for t in ("sst2", "conll2003") for s in range(2)]
    group = {"tasks": ["sst2", "conll2003"], "id": "g"}
    lost = [1.0] * 400 + [0.0] * 600  # wrong on 100 items the baseline gets right
    group = {**group, "select_mean": 0.5}
    records += [record("multitask", "sst2", seed=s, items=lost).but(group=group) for s in range(2)]
    records += [record("multitask", "conll2003", seed=s, items=base).but(group=group) for s in range(2)]
    a = analyse(records, baseline="full_finetune")
    assert a["transfer"]["multitask"]["lost"] == ["sst2"] and a["transfer"]["multitask"]["gained"] == []
    md = leaderboard(records, "s", baseline="full_finetune")
    section = md.split("## Transfer: multitask against full_finetune", 1)[1]
    row = row_of(section, "sst2", "| task")
    assert row.startswith("| sst2 | -0.100 | [-0.1") and "**worse**" in row
    assert "| conll2003 | +0.000 | [+0.000, +0.000] | tie, MDE ±0.000 (Holm p 1) |" in section
    assert ("negative transfer (worse than alone): sst2; positive transfer (better than alone): none. "
            "A tie is inconclusive") in section
    # no group, no table
    alone = [r for r in records if r.strategy != "multitask"]
    assert "## Transfer" not in leaderboard(alone, "s", baseline="full_finetune")


BASE = [1.0] * 500 + [0.0] * 500


def shifted(gains: int, losses: int) -> list[float]:
    """BASE, right on ``gains`` items it gets wrong and wrong on ``losses`` items it gets right."""
    x = list(BASE)
    x[500: 500 + gains] = [1.0] * gains
    x[:losses] = [0.0] * losses
    return x


def two_tasks() -> list:
    """2 tasks x 2 strategies, 3 seeds each: lora gains on sst2 with a raw p just under 0.05 (24 items
    gained, 12 lost of 1,000: z = 0.012 / 0.006 = 2.0) and is the baseline on imdb (p = 1)."""
    records = [record(task=t, seed=s, items=BASE) for t in ("sst2", "imdb") for s in range(3)]
    records += [record("lora", task="sst2", seed=s, items=shifted(24, 12)) for s in range(3)]
    records += [record("lora", task="imdb", seed=s, items=BASE) for s in range(3)]
    return records


def test_the_verdict_comes_from_holm_over_the_family_of_every_task(tmp_path):
    records = two_tasks()
    write_report(records, "s", tmp_path, baseline="full_finetune")
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    md = (tmp_path / "LEADERBOARD.md").read_text()
    c = data["tasks"]["sst2"]["comparisons"]["lora"]
    assert c["delta"] == pytest.approx(0.012) and 0.025 < c["p_value"] < 0.05
    # alone it would be "better"; in a family of two (the other p = 1) Holm doubles it
    assert c["p_holm"] == pytest.approx(2 * c["p_value"]) and c["p_holm"] > 0.05
    assert c["verdict"] == "tie"
    assert data["tasks"]["imdb"]["comparisons"]["lora"]["p_holm"] == 1.0
    row = row_of(md, "lora", "## sst2")
    assert f"tie, MDE ±{c['mde']:.3f} (Holm p {format_p(c['p_holm'])})" in row and "**better**" not in row
    # the family is every pair on every task: one pair a task here, each printed with its Holm p
    printed = [line for line in md.split("## Across tasks")[0].splitlines() if "(Holm p " in line]
    assert data["statistics"]["family"]["size"] == len(printed) == 2
    assert data["statistics"]["family"]["tasks"] == 2
    assert data["statistics"]["family"]["per_task"] == {"sst2": 1, "imdb": 1}
    assert data["tasks"]["sst2"]["pairwise"]["full_finetune"]["lora"]["delta"] == pytest.approx(-0.012)
    assert "one family of **2 comparisons**: every pair of strategies on each task (1 on sst2, 1 on imdb)" \
        in md
    # the same comparison in a family of one: its own p, and "better"
    alone = analyse([r for r in records if r.task == "sst2"], baseline="full_finetune")
    own = alone["tasks"]["sst2"]["comparisons"]["lora"]
    assert alone["statistics"]["family"]["size"] == 1
    assert own["p_holm"] == pytest.approx(c["p_value"]) and own["verdict"] == "better"


def test_a_one_seed_strategy_gets_no_verdict_and_is_not_in_the_family():
    records = two_tasks()
    with_lone = records + [record("linear_probe", task="sst2", seed=0, items=shifted(100, 0))]
    a, before = analyse(with_lone, baseline="full_finetune"), analyse(records, baseline="full_finetune")
    lone = a["tasks"]["sst2"]["comparisons"]["linear_probe"]
    assert lone["seeds"] == [1, 3] and lone["testable"] is False
    assert lone["verdict"] is None and lone["p_holm"] is None
    family = a["statistics"]["family"]
    # the one-seed probe has the highest mean but cannot lead (no verdict possible): lora leads sst2,
    # and the page prints the probe against lora too, also without a verdict; the probe's two pairs
    # are untestable, so the family is the pair of lora and fine-tuning on each task
    assert a["tasks"]["sst2"]["leader"] == "lora"
    assert a["tasks"]["sst2"]["leader_comparisons"]["linear_probe"]["testable"] is False
    assert family["size"] == 2 and family["untestable"] == 2
    # the others' adjusted p-values are what they were without it
    for t in ("sst2", "imdb"):
        now, then = (x["tasks"][t]["comparisons"]["lora"] for x in (a, before))
        assert now["p_holm"] == then["p_holm"] and now["verdict"] == then["verdict"]
    md = leaderboard(with_lone, "s", baseline="full_finetune", analysis=a)
    row = row_of(md, "linear_probe", "## sst2")
    assert "+0.100 (test items only: [" in row and "Holm p" not in row
    assert "no verdict (1 seed: seed variance unknown)" in row
    assert "2 comparisons have a side with one seed" in md and "one family of **2 comparisons**" in md


def test_an_equivalence_margin_turns_a_tie_into_equivalent():
    """A strategy that differs from the baseline by two flipped items of 1,000 per seed, over 10
    seeds: inside a margin of 0.02 it is equivalent; without a margin it is only a tie."""
    rng = np.random.default_rng(0)
    base = [(rng.random(1000) < 0.8).astype(float) for _ in range(10)]
    near = []
    for b in base:
        x = b.copy()
        flip = rng.choice(1000, 2, replace=False)
        x[flip] = 1 - x[flip]
        near.append(x)
    records = [record(seed=s, items=b.tolist()) for s, b in enumerate(base)]
    records += [record("lora", seed=s, items=x.tolist()) for s, x in enumerate(near)]

    def lora(margin):
        a = analyse(records, baseline="full_finetune", margin=margin, n_resamples=2000)
        md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
        return a, a["tasks"]["sst2"]["comparisons"]["lora"], row_of(md, "lora", "## sst2")

    a, c, row = lora(0.02)
    assert abs(c["delta"]) < 0.001 and c["p_value"] > 0.5
    assert c["margin"] == 0.02 and c["tost_p_holm"] < 0.05 and c["verdict"] == "equivalent"
    assert f"**equivalent** within ±0.02 (TOST Holm p {format_p(c['tost_p_holm'])}; Holm p " in row
    assert a["statistics"]["family"]["equivalence_tests"] == 1
    assert lora({"sst2": 0.02})[1]["verdict"] == "equivalent"  # a margin per task label
    for margin in (None, {"imdb": 0.02}):  # no margin, or another task's
        a, c, row = lora(margin)
        assert c["tost_p"] is None and c["verdict"] == "tie" and "tie, MDE ±" in row
        assert a["statistics"]["family"]["equivalence_tests"] == 0


def test_cells_not_above_the_trivial_baseline_get_no_verdict_and_such_tasks_no_rank():
    """sst2's trivial baseline is 0.45: fine-tuning (0.5) and lora are above it. imdb's is 0.6:
    nobody is, so imdb has no verdicts and is left out of the ranks across tasks."""
    from tlbench.record import Trivial

    def with_trivial(r, score: float):
        return r.but(trivial=Trivial(method="majority class 'x' of the training split",
                                     metrics={"accuracy": score, "macro_f1": score / 2}))

    records = [with_trivial(r, 0.45 if r.task == "sst2" else 0.6) for r in two_tasks()]
    records += [with_trivial(record("linear_probe", task=t, seed=s, score=v), 0.45 if t == "sst2" else 0.6)
                for t in ("sst2", "imdb") for s, v in enumerate((0.40, 0.44, 0.46))]
    a = analyse(records, baseline="full_finetune")
    sst2, imdb = a["tasks"]["sst2"], a["tasks"]["imdb"]
    assert sst2["trivial"]["score"] == 0.45 and sst2["above_trivial"] and imdb["above_trivial"] is False
    cells = sst2["strategies"]
    assert cells["lora"]["above_trivial"] and not cells["linear_probe"]["above_trivial"]
    # the probe is below trivial: no verdict and not in the family; imdb's lora neither
    assert sst2["comparisons"].get("linear_probe", {}).get("verdict") is None
    assert imdb["comparisons"]["lora"]["verdict"] is None
    # the probe kept no item statistics (no pairs): sst2's pair of lora and fine-tuning is the family;
    # imdb's is left out, neither cell above trivial
    assert a["statistics"]["family"]["size"] == 1 and a["statistics"]["family"]["not_above_trivial"] == 1
    assert a["ranks"]["below_trivial"] == ["imdb"] and "imdb" not in a["ranks"]["tasks"]
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert "Trivial baseline (no training: majority class 'x' of the training split): accuracy 0.450" in md
    assert "not above it, so without a verdict: linear_probe." in md
    assert "**no strategy is above it on this task**" in md
    assert "not above trivial: no verdict" in row_of(md, "lora", "## imdb")
    assert "left out, no strategy above its trivial baseline: imdb" in md


def test_several_models_are_rows_of_their_own_never_pooled(tmp_path):
    from tlbench.analysis import analyse
    from tlbench.report import leaderboard

    def on(model: str, r):
        return r.model_copy(update={"model": model, "run_id": f"{model}-{r.run_id}",
                                    "cell_id": f"{model}-{r.cell_id}"})

    records = [on(m, record(s, seed=seed, score=score + 0.01 * seed))
               for m, base in (("org/small", 0.7), ("org/large", 0.8))
               for s, score in (("full_finetune", base), ("linear_probe", base - 0.1)) for seed in range(3)]
    a = analyse(records, baseline="full_finetune", n_resamples=200)
    assert a["models"] == ["org/small", "org/large"]
    assert a["baseline"] == "full_finetune · small"
    rows = a["tasks"]["sst2"]["strategies"]
    assert set(rows) == {"full_finetune · small", "linear_probe · small", "full_finetune · large",
                         "linear_probe · large"}
    assert all(x["n"] == 3 for x in rows.values())  # three seeds each, not six pooled
    assert rows["full_finetune · large"]["mean"] == pytest.approx(0.81)
    text = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert "Models: `org/small`, `org/large`" in text and "full_finetune · large" in text
    one = analyse([r for r in records if r.model == "org/small"], baseline="full_finetune", n_resamples=200)
    assert one["baseline"] == "full_finetune" and "full_finetune" in one["tasks"]["sst2"]["strategies"]


def test_models_sharing_a_last_name_keep_their_whole_ids():
    from tlbench.records import model_axis

    rs = [record().model_copy(update={"model": m, "run_id": m}) for m in ("a/base", "b/base")]
    out, baseline, _ = model_axis(rs, "full_finetune")
    assert [r.strategy for r in out] == ["full_finetune · a/base", "full_finetune · b/base"]
    assert baseline == "full_finetune · a/base"


def test_a_curve_order_the_intervals_do_not_support_is_not_claimed(tmp_path):
    noise = (0.0, 0.1, -0.1)  # wide seed spread: a 0.01 gap in the means is no order
    scores = {"full_finetune": {100: 0.61, 1000: 0.71}, "linear_probe": {100: 0.60, 1000: 0.70}}
    records = [record(s, seed=k, train_size=size, score=v + noise[k])
               for s, by_size in scores.items() for size, v in by_size.items() for k in range(3)]
    write_report(records, "s", tmp_path, baseline="full_finetune")
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "`full_finetune`'s mean is above `linear_probe`'s at every size" in md
    assert "at no size does the 95% interval exclude 0, so no order is shown." in md


def test_the_run_summary_keeps_models_and_sizes_apart():
    from rich.console import Console

    from tlbench.progress import run_summary

    def on(model: str, r):
        return r.model_copy(update={"model": model, "run_id": f"{model}-{r.run_id}",
                                    "cell_id": f"{model}-{r.cell_id}"})

    records = [on(m, record("linear_probe", seed=k, train_size=size, score=base + size / 10_000))
               for m, base in (("org/small", 0.6), ("org/large", 0.8)) for size in (100, 1000)
               for k in range(3)]
    console = Console(record=True, width=200)
    console.print(run_summary(records, "s"))
    text = console.export_text()
    for row, mean in (("linear_probe · small [100]", "0.610"), ("linear_probe · small [1,000]", "0.700"),
                      ("linear_probe · large [100]", "0.810"), ("linear_probe · large [1,000]", "0.900")):
        line = next(x for x in text.splitlines() if row in x)
        assert f"{mean} ± 0.000 (n=3)" in line, line
