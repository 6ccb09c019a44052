"""The low-resource protocol (issue 20): training sizes per class, and several training subsets per
size whose runs are all replicates of the statistics. Hermetic: the fake task and tiny mirror files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import ClassVar

import datasets
import numpy as np
import pytest

from tests.records import record
from tlbench.data import carved_class_counts, per_class
from tlbench.errors import ConfigError, DataError
from tlbench.hookspecs import hookimpl
from tlbench.interfaces import TaskOptions
from tlbench.text_task import TextTask

SUITE = """
models = ["m"]
seeds = [0, 1]
{top}
[tasks.fake_task]
rows = 30
[strategies.fake_strategy]
"""


def _suite(tmp_path: Path, plugins, top: str, check_data: bool = False):
    from tlbench.config import load_suite

    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(top=top))
    return load_suite(path, plugins, check_data=check_data)


# -- drawing the rows ---------------------------------------------------------------------------
def test_per_class_draws_exactly_k_of_every_class_seeded():
    ds = datasets.Dataset.from_dict({"label": [int(i % 4 == 0) for i in range(40)], "i": list(range(40))})
    a = per_class(ds, 5, seed=3, column="label", names=("no", "yes"))
    assert np.bincount(a["label"]).tolist() == [5, 5]
    assert a["i"] == sorted(a["i"])  # original order kept
    assert per_class(ds, 5, seed=3, column="label")["i"] == a["i"]  # seeded
    assert per_class(ds, 5, seed=4, column="label")["i"] != a["i"]
    with pytest.raises(DataError, match=r"sst2: per_class = 11 needs 11 training rows of every class, but "
                                        r"class 'yes' has 10 \(of 40 training rows\)"):
        per_class(ds, 11, seed=0, column="label", names=("no", "yes"), where="sst2")
    with pytest.raises(DataError, match="class 'maybe' has 0"):  # a class with no row at all is named
        per_class(ds, 1, seed=0, column="label", names=("no", "yes", "maybe"))


def test_train_seed_is_split_seed_for_subset_zero_and_another_per_subset():
    assert TaskOptions(split_seed=7).train_seed == 7
    seeds = {TaskOptions(split_seed=7, train_subset=k).train_seed for k in range(1, 6)}
    assert len(seeds) == 5 and 7 not in seeds
    with pytest.raises(ValueError, match="max_train_examples .* or train_per_class .*, not both"):
        TaskOptions(max_train_examples=10, train_per_class=2)
    # the new options stay out of ids at their defaults
    new = {"train_per_class", "train_subset"}
    assert set(TaskOptions().identity()) == set(TaskOptions().model_dump()) - new


class Toy(TextTask):
    hub_id = "toy/toy"
    folder = "toy"
    text_columns = ("sentence",)
    default_labels: ClassVar[tuple[str, ...]] = ("neg", "pos")
    primary_metric = "accuracy"


class _ToyPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("toy", Toy)


def _mirror(root: Path, train: int = 90, report: int = 24) -> Path:
    for split, n in (("train", train), ("validation", report)):
        path = root / "toy" / f"{split}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(json.dumps({"sentence": f"{split} {i}", "label": int(i % 3 == 0)}) + "\n")
    return root


def test_a_text_task_draws_per_class_and_subsets_without_touching_select_or_report(tmp_path):
    root = _mirror(tmp_path)
    base = {"select_examples": 15, "max_eval_examples": 12}

    def load(**kw):
        return Toy("toy", TaskOptions(**base, **kw)).load(root)

    today = load(max_train_examples=20)
    draws = {k: load(train_per_class=4, train_subset=k) for k in range(3)}
    for data in draws.values():
        assert np.bincount(data.splits["train"]["label"]).tolist() == [4, 4]
        for role in ("select", "report"):  # the same items for every subset and size: paired
            assert data.splits[role]["sentence"] == today.splits[role]["sentence"]
    trains = [tuple(d.splits["train"]["sentence"]) for d in draws.values()]
    assert len(set(trains)) == 3  # each subset its own rows
    assert tuple(load(train_per_class=4, train_subset=1).splits["train"]["sentence"]) == trains[1]
    # subset 0 of a cap is exactly what the cap drew before subsets existed (split_seed's draw)
    from tlbench.data import cap, carve, read_mirror

    rows = datasets.Dataset.from_list(read_mirror(root / "toy" / "train.jsonl.gz", [], {}))
    before = cap(carve(rows, 15, 0, "label")[0], 20, 0, "label")
    assert today.splits["train"]["sentence"] == before["sentence"]
    assert load(max_train_examples=20, train_subset=2).splits["train"]["sentence"] != before["sentence"]
    # validation counts what the carve leaves, exactly
    counts = Toy("toy", TaskOptions(**base, train_per_class=4)).train_class_counts(root)
    assert counts == dict(zip(("neg", "pos"), np.bincount(load().splits["train"]["label"]).tolist(),
                              strict=True))
    assert carved_class_counts([0, 1, 1, 0], 3, None, 0) == [2, 2, 0]


# -- the suite: keys, validation, grid -----------------------------------------------------------
def test_per_class_sizes_and_subsets_are_grid_axes_with_stable_ids(tmp_path, with_fakes):
    from tlbench.grid import build_grid
    from tlbench.record import PerClass

    plain = build_grid(_suite(tmp_path, with_fakes, 'train_sizes = [10, "full"]'), with_fakes)
    suite = _suite(tmp_path, with_fakes, 'train_sizes = [{ per_class = 4 }, 10, "full"]')
    assert suite.train_sizes == (PerClass(per_class=4), 10, "full") and suite.subsets == 5  # the default
    cells = build_grid(suite, with_fakes)
    assert [(str(c.train_size), c.subset) for c in cells] == (
        [("4/class", k) for k in range(5)] + [("10", k) for k in range(5)] + [("full", 0)])
    assert len({c.id for c in cells}) == 11 and len({r.id for c in cells for r in c.runs()}) == 22
    assert all(c.task_options.train_per_class == 4 and c.task_options.max_train_examples is None
               for c in cells[:5])
    # subset 0 keeps the ids the suite had without the new axis (the option stays out of ids)
    by_size = {(c.train_size, c.subset): c.id for c in cells}
    assert {c.id for c in plain} == {by_size[(10, 0)], by_size[("full", 0)]}
    # without a per-class size nothing changes, and subsets can be set
    assert _suite(tmp_path, with_fakes, 'train_sizes = [10]').subsets == 1
    three = build_grid(_suite(tmp_path, with_fakes, 'train_sizes = [10]\nsubsets = 3'), with_fakes)
    assert [c.subset for c in three] == [0, 1, 2] and three[0].id == by_size[(10, 0)]


@pytest.mark.parametrize(("top", "message"), [
    ("train_sizes = [{ per_klass = 4 }]",
     r"train_sizes\[0\]: unknown key 'per_klass'. Did you mean: per_class\?"),
    ("train_sizes = [{ per_class = 0 }]", r"train_sizes\[0\].per_class: a positive whole number"),
    ("train_sizes = [{ per_class = 4 }, { per_class = 4 }]", "positive, distinct sizes"),
    ('train_sizes = ["half"]',
     r"train_sizes\[0\]: a number of training rows, \"full\" or \{ per_class = K \}"),
    ("subsets = 0", "subsets must be >= 1"),
    ('subsets = "5"', "subsets: Input should be a valid integer"),
    ('train_sizes = ["full"]\nsubsets = 3', "subsets: 3 draws of the training rows, but no cell draws them"),
])
def test_bad_sizes_and_subsets_are_named(tmp_path, with_fakes, top, message):
    with pytest.raises(ConfigError, match=message):
        _suite(tmp_path, with_fakes, top)


def test_per_class_on_a_task_without_classes_is_refused(tmp_path, with_fakes):
    from tlbench.config import load_suite

    path = tmp_path / "s.toml"
    path.write_text('models = ["m"]\nseeds = [0]\ntrain_sizes = [{ per_class = 8 }]\n[tasks.stsb]\n'
                    '[tasks.conll2003]\n[strategies.fake_strategy]\n')
    with pytest.raises(ConfigError) as err:
        load_suite(path, with_fakes, check_data=False)
    assert ("tasks.stsb at train_sizes { per_class = 8 }: a per-class training size ({ per_class = 8 }) "
            "needs a task with one class label per example; stsb predicts a number: it has no classes "
            "(its head is regression)") in str(err.value)
    assert "conll2003 labels every token, not each example" in str(err.value)


def test_a_per_class_size_above_a_class_is_named_at_validation(tmp_path, with_fakes, monkeypatch):
    from tlbench.cells import class_count_problems

    root = _mirror(tmp_path / "data")
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(root))
    path = tmp_path / "s.toml"
    path.write_text('models = ["m"]\nseeds = [0]\ntrain_sizes = [{ per_class = 4 }, { per_class = 30 }]\n'
                    '[tasks.toy]\nselect_examples = 15\n[strategies.fake_strategy]\n')
    from tlbench.config import load_suite

    with with_fakes.temporarily(_ToyPlugin(), name="toy") as plugins:
        suite = load_suite(path, plugins, check_data=False)
        (problem,) = class_count_problems(suite, plugins)
    # 90 rows, 30 of them 'pos': 15 selection rows carved (stratified) leave 25 'pos' and 50 'neg'
    assert problem == ("tasks.toy at train_sizes { per_class = 30 }: per_class = 30 needs 30 training rows "
                       "of every class, but class 'pos' has 25 (training rows left after carving the "
                       "selection rows); the most every class has is 25")


# -- the statistics: every (subset, seed) run is a replicate --------------------------------------
def test_runs_of_two_subsets_with_the_same_seed_are_both_replicates(tmp_path):
    from tlbench.analysis import analyse
    from tlbench.record import PerClass
    from tlbench.report import write_report

    size = PerClass(per_class=8)
    rng = np.random.default_rng(0)
    records = []
    for s, p in (("full_finetune", 0.8), ("linear_probe", 0.6)):
        for subset in range(3):
            for seed in range(2):
                items = (rng.random(200) < p + 0.03 * subset).astype(float).tolist()
                r = record(s, seed=seed, items=items)
                records.append(r.but(run_id=f"{r.run_id}-u{subset}", cell_id=f"{r.cell_id}-u{subset}",
                                     train_size=size, train_subset=subset,
                                     data={**r.data.model_dump(), "sizes": {"train": 16, "select": 500,
                                                                            "report": 200},
                                           "label_names": ["negative", "positive"]}))
    a = analyse(records, baseline="full_finetune", n_resamples=500)
    ft = a["tasks"]["sst2"]["strategies"]["full_finetune"]
    # two seeds per subset share its rows: the interval is over the 3 subset means (issue 20)
    assert ft["n"] == 3 and ft["subsets"] == [0, 0, 1, 1, 2, 2] and ft["seeds"] == [0, 1] * 3
    assert len(ft["values"]) == 6 and ft["nested"]["seeds"] == [2, 2, 2]
    assert a["tasks"]["sst2"]["comparisons"]["linear_probe"]["seeds"] == [6, 6]  # runs, not seeds
    assert a["tasks"]["sst2"]["training_draw"] == "8/class × 3 subsets"
    assert a["statistics"]["replicates"] == "training subsets, each with its seeds nested within it"
    (point,) = a["curves"]["sst2"]["strategies"]["full_finetune"]
    assert (point["size"], point["label"], point["rows"], point["n"], point["subsets"], point["seeds"]) == (
        {"per_class": 8}, "8/class", 16.0, 3, 3, 2)
    json.dumps(a)  # leaderboard.json
    write_report(records, "s", tmp_path, baseline="full_finetune")
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "16 training (8/class × 3 subsets) and 500 selection rows" in md
    assert "(n=3 subsets × 2 seeds; subset means: " in md
    assert "so a cell's n, mean and t-interval are over its subset means" in md


def test_learning_curves_over_per_class_sizes_state_their_intervals(tmp_path):
    from tlbench.record import PerClass
    from tlbench.report import write_report

    scores = {"full_finetune": {4: 0.60, 8: 0.70, 64: 0.85}, "linear_probe": {4: 0.65, 8: 0.68, 64: 0.74}}
    records = []
    for s, by_size in scores.items():
        for k, v in by_size.items():
            for subset in range(3):
                r = record(s, seed=0, score=v + 0.01 * subset)
                records.append(r.but(run_id=f"{r.run_id}-{k}-u{subset}", cell_id=f"{r.cell_id}-{k}-u{subset}",
                                     train_size=PerClass(per_class=k), train_subset=subset,
                                     data={**r.data.model_dump(), "sizes": {"train": 2 * k, "select": 500,
                                                                            "report": 872},
                                           "label_names": ["negative", "positive"]}))
    write_report(records, "s", tmp_path, baseline="full_finetune")
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "Learning curve over 8 (4/class), 16 (8/class), 128 (64/class) training examples" in md
    assert "each point the mean over 3 training subsets × seeds" in md
    assert "`full_finetune`'s mean overtakes `linear_probe`'s from 16 training examples on" in md
    assert "4/class -0.050 [" in md and "64/class +0.110 [" in md
    # the tables show the largest size: 3 subsets of one seed
    assert "(n=3: 0.850 0.860 0.870)" in md
    assert (tmp_path / "plots" / "curve_sst2.png").is_file()


def test_records_keep_the_size_and_subset_through_json():
    from tlbench.record import PerClass, load_record

    r = record().but(train_size=PerClass(per_class=8), train_subset=3)
    again = load_record(json.loads(json.dumps(r.to_json())))
    assert again.train_size == PerClass(per_class=8) and again.train_subset == 3
    assert r.to_json()["train_size"] == {"per_class": 8}
    older = {k: v for k, v in record().to_json().items() if k != "train_subset"}
    assert load_record(older).train_subset is None


def test_the_plan_counts_subset_cells_and_per_class_rows(tmp_path, with_fakes):
    from tlbench.grid import build_grid
    from tlbench.plan import plan

    suite = _suite(tmp_path, with_fakes, 'train_sizes = [{ per_class = 4 }, "full"]\nsubsets = 2')
    plans = plan(suite, build_grid(suite, with_fakes), with_fakes)
    assert [(p.draw, p.train_rows, p.runs) for p in plans] == [
        ("4/class, subset 0", 8, 2), ("4/class, subset 1", 8, 2), ("full, subset 0", None, 2)]
