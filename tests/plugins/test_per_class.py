"""Per-class training sizes and training subsets on real data (issue 20): the built-in SST-2 from the
offline mirror and a declared classification from CSV files, loaded, not trained."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tlbench import ConfigError, DataError, get_plugins, load_suite


def _sst2(**options):
    factory = get_plugins().tasks.get("sst2").factory
    return factory("sst2", factory.Options(**options))


def test_sst2_per_class_8_is_16_rows_8_of_each_and_the_same_eval_rows(data_dir):
    default = _sst2().load(data_dir)
    drawn = {k: _sst2(train_per_class=8, train_subset=k).load(data_dir) for k in (0, 1)}
    for data in drawn.values():
        assert data.sizes() == {"train": 16, "select": 1000, "report": 872}
        assert np.bincount(data.splits["train"]["label"]).tolist() == [8, 8]
        for role in ("select", "report"):
            assert data.splits[role]["sentence"] == default.splits[role]["sentence"]
    assert drawn[0].splits["train"]["sentence"] != drawn[1].splits["train"]["sentence"]  # another subset
    again = _sst2(train_per_class=8, train_subset=1).load(data_dir)
    assert again.splits["train"]["sentence"] == drawn[1].splits["train"]["sentence"]  # seeded


def test_a_per_class_size_above_sst2s_classes_fails_validation_naming_them(data_dir, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('models = ["m"]\nseeds = [0]\ntrain_sizes = [{ per_class = 8 }, { per_class = 30000 }]\n'
                    "[tasks.sst2]\n[strategies.linear_probe]\n")
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    (problem,) = err.value.problems
    assert problem == ("tasks.sst2 at train_sizes { per_class = 30000 }: per_class = 30000 needs 30000 "
                       "training rows of every class, but class 'negative' has 29338 (training rows left "
                       "after carving the selection rows); the most every class has is 29338")


def _csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")


def test_a_declared_classification_draws_per_class_and_fails_a_short_class_when_loading(data_dir, tmp_path):
    with gzip.open(data_dir / "sst2" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(80), fh, strict=False)]
    texts = [r["sentence"].replace(",", " ").strip() or "x" for r in rows]
    labels = ["spam" if i % 8 == 0 else "ham" for i in range(80)]  # 10 spam, 70 ham
    _csv(tmp_path / "train.csv", list(zip(texts[:60], labels[:60], strict=True)))
    _csv(tmp_path / "test.csv", list(zip(texts[60:], labels[60:], strict=True)))
    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0]\ntrain_sizes = [{ per_class = 3 }]\n'
                     '[tasks.mail]\nkind = "classification"\nselect_examples = 10\n'
                     'data_files = { train = "train.csv", test = "test.csv" }\n[strategies.linear_probe]\n')
    loaded = load_suite(suite)
    assert loaded.subsets == 5
    from tlbench.grid import build_grid

    cells = build_grid(loaded)
    assert len(cells) == 5
    task = get_plugins().tasks.get("classification").factory("classification", cells[2].task_options)
    data = task.load(None)
    assert data.label_names == ("ham", "spam")
    assert np.bincount(data.splits["train"]["label"]).tolist() == [3, 3]
    # 8 spam rows in train.csv; validation sees what carving 10 selection rows leaves
    suite.write_text(suite.read_text().replace("per_class = 3", "per_class = 8"))
    with pytest.raises(ConfigError, match=r"per_class = 8 needs 8 training rows of every class, but class "
                                          r"'spam' has \d \(training rows left after carving"):
        load_suite(suite)
    # and loading says the same (a run records it as its failure)
    short = task.Options.model_validate({**cells[0].task_options.model_dump(exclude_unset=True),
                                         "train_per_class": 8}, context={"suite_dir": tmp_path})
    with pytest.raises(DataError, match=r"per_class = 8 needs 8 training rows of every class, but class "
                                        r"'spam' has \d"):
        get_plugins().tasks.get("classification").factory("classification", short).load(None)
