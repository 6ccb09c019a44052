"""GLUE and IMDb tasks: split roles, official metrics on known cases, Hub-only tasks configured."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tlbench import TaskOptions, classification_metrics, correlations, get_plugins, load_suite
from tlbench.errors import ConfigError
from tlbench_builtin.glue import TASKS


def task(name: str, **options):
    entry = get_plugins().tasks.get(name)
    return entry.factory(name, entry.factory.Options(**options))


def test_mcc_known_and_constant():
    cola = task("cola")
    split = {"label": [1, 0, 0, 0]}
    m = cola.score(np.array([1, 1, 0, 0]), split)
    assert m["matthews"] == pytest.approx(2 / np.sqrt(12))  # TP1 FP1 TN2 FN0 by hand
    assert cola.score(np.array([1, 1, 1, 1]), split)["matthews"] == 0.0  # constant guess
    assert cola.primary_metric == "matthews"


def test_mrpc_f1_is_positive_class_f1():
    m = task("mrpc").score(np.array([1, 1, 0, 1]), {"label": [1, 0, 0, 1]})
    assert m["f1"] == pytest.approx(0.8) and m["accuracy"] == 0.75  # P 2/3, R 1
    assert task("mrpc").score(np.array([0, 0]), {"label": [1, 0]})["f1"] == 0.0  # nothing predicted


def test_macro_metrics_by_hand():
    m = classification_metrics(np.array([0, 0, 1, 1]), [0, 1, 1, 1])
    # class 0: P 1/2 R 1; class 1: P 1 R 2/3
    assert m["macro_precision"] == pytest.approx(0.75)
    assert m["macro_recall"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_correlations_known_and_constant():
    assert correlations(np.array([1.0, 2, 3]), [2.0, 4, 6]) == {"pearson": pytest.approx(1.0),
                                                                "spearman": pytest.approx(1.0)}
    assert correlations(np.array([1.0, 2, 3]), [1.0, 3, 2])["spearman"] == pytest.approx(0.5)
    assert correlations(np.array([2.5, 2.5, 2.5]), [1.0, 3, 2]) == {"pearson": 0.0, "spearman": 0.0}


def test_stsb_is_regression():
    stsb = task("stsb")
    assert stsb.head.kind == "regression" and stsb.primary_metric == "pearson"
    assert list(stsb.decode(np.array([[1.5], [3.0]]), {}, None)) == [1.5, 3.0]


@pytest.mark.parametrize(("name", "columns", "labels", "report"), [
    ("qqp", ("question1", "question2"), 2, "validation"),
    ("qnli", ("question", "sentence"), 2, "validation"),
    ("mnli", ("premise", "hypothesis"), 3, "validation_matched"),
    ("mnli_mismatched", ("premise", "hypothesis"), 3, "validation_mismatched"),
])
def test_hub_only_tasks_are_configured(name, columns, labels, report, tmp_path):
    t = task(name)
    assert t.text_columns == columns and t.head.num_labels == labels and t.report_split == report
    assert t.hub_id == "nyu-mll/glue" and "Hub only" in t.description
    assert [p.name for p in t.required_files(tmp_path)] == ["train.jsonl.gz", f"{report}.jsonl.gz"]


def test_hub_only_task_with_the_mirror_fails_validation_clearly(tmp_path, data_dir):
    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0]\n[tasks.qqp]\n[strategies.linear_probe]\n')
    with pytest.raises(ConfigError, match=r"tasks.qqp: data mirror file not found: .*qqp/train.jsonl.gz"):
        load_suite(suite)


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    from tlbench.engine.model import load_tokenizer
    from tlbench.testing import tiny_bert

    return load_tokenizer(str(tiny_bert(tmp_path_factory.mktemp("tiny"))))


@pytest.mark.parametrize(("name", "pair", "report_rows"), [
    ("cola", False, 1043), ("mrpc", True, 408), ("rte", True, 277), ("stsb", True, 1500), ("wnli", True, 71),
])
def test_mirror_tasks_load_with_roles(name, pair, report_rows, data_dir, tiny_tokenizer):
    t = task(name, select_examples=50, max_train_examples=100)
    data = t.load(data_dir)
    assert data.sizes() == {"train": 100, "select": 50, "report": report_rows}
    assert data.sources["report"].location.endswith("validation.jsonl.gz")
    assert data.label == name
    enc = t.encode(tiny_tokenizer, data.splits["train"][:4])
    assert ("token_type_ids" in enc) == pair and len(enc["input_ids"]) == 4
    assert all(len(ids) <= t.options.max_length for ids in enc["input_ids"])


def test_imdb_roles_stratified_and_labelled(data_dir):
    t = task("imdb", max_train_examples=200, select_examples=100, max_eval_examples=300)
    data = t.load(data_dir)
    assert data.sizes() == {"train": 200, "select": 100, "report": 300}
    assert data.label == "imdb[test:300]"
    assert data.sources["report"].location.endswith("test.jsonl.gz")
    assert sum(data.splits["report"]["label"]) == 150  # test is balanced; the cap keeps it so
    assert t.options.max_length == 256


def test_glue_test_split_with_hidden_labels_cannot_be_reported(data_dir):
    class HiddenReport(TASKS["rte"]):
        report_split = "test"

    with pytest.raises(ValueError, match="hidden labels"):
        HiddenReport("rte", TaskOptions(select_examples=50)).load(data_dir)


# -- trivial baselines (Task.trivial_predictions) ----------------------------------------------------

def mirror_rows(data_dir: Path, folder: str, split: str) -> dict[int, dict]:
    """A mirror file's rows by ``idx``, read with plain Python (no datasets)."""
    with gzip.open(data_dir / folder / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return {row["idx"]: row for row in map(json.loads, fh)}


def test_sst2_trivial_is_the_training_majority_and_scores_its_share_of_the_report_rows(data_dir):
    """glue_small's SST-2 (validation:300): the majority class of the 500 training rows the run
    trains on, whose accuracy is that class's share of the 300 report rows; both counted here from
    the mirror files by ``idx``."""
    t = task("sst2", max_train_examples=500, select_examples=150, max_eval_examples=300)
    data = t.load(data_dir)
    train, validation = mirror_rows(data_dir, "sst2", "train"), mirror_rows(data_dir, "sst2", "validation")
    used = [train[i]["label"] for i in data.splits["train"]["idx"]]
    majority = max(sorted(set(used)), key=used.count)  # the first of the most frequent: the lowest id
    assert (majority, used.count(majority)) == (1, 279)
    method, predictions = t.trivial_predictions(data)
    assert method == ("majority class 'positive' of the training split (279 of 500 rows; ties go to "
                      "the lowest label id)")
    assert predictions.tolist() == [majority] * 300
    report = [validation[i]["label"] for i in data.splits["report"]["idx"]]
    share = report.count(majority) / len(report)
    metrics = t.score(predictions, data.splits["report"])
    assert metrics["accuracy"] == pytest.approx(share) and share == pytest.approx(0.51)
    assert metrics["macro_recall"] == pytest.approx(0.5)  # one class recalled fully, the other not


def test_imdb_trivial_breaks_the_balanced_tie_by_the_lowest_label(data_dir):
    """glue_small's IMDb: the capped training rows are balanced 80/80, so 'neg' (id 0) wins the tie;
    the balanced report rows (test:150) give accuracy 0.5."""
    t = task("imdb", max_train_examples=160, select_examples=100, max_eval_examples=150, max_length=128)
    data = t.load(data_dir)
    method, predictions = t.trivial_predictions(data)
    assert method == ("majority class 'neg' of the training split (80 of 160 rows, tied with 'pos'; ties "
                      "go to the lowest label id)")
    assert set(predictions.tolist()) == {0}
    assert t.score(predictions, data.splits["report"])["accuracy"] == 0.5


def test_trivial_majority_reads_only_the_training_labels():
    """The report split's labels change nothing; three classes tie and the lowest id wins."""
    import datasets

    from tlbench import DataSource, TaskData

    mnli = task("mnli")
    train = datasets.Dataset.from_dict({"label": [2, 1, 2, 1, 0, 0]})
    for report_labels in ([0, 0, 0], [2, 2, 2]):
        report = datasets.Dataset.from_dict({"label": report_labels})
        data = TaskData(splits={"train": train, "select": report, "report": report},
                        sources={r: DataSource("memory://") for r in ("train", "select", "report")},
                        label_names=mnli.default_labels)
        method, predictions = mnli.trivial_predictions(data)
        assert predictions.tolist() == [0, 0, 0]
        assert "'entailment'" in method and "tied with 'neutral', 'contradiction'" in method


def test_stsb_trivial_is_the_training_mean_and_scores_zero_not_nan(data_dir):
    """STS-B: the mean training target for every report row; Pearson and Spearman of a constant
    are undefined, scored 0.0 (not NaN, no warning)."""
    t = task("stsb", max_train_examples=400, select_examples=100, max_eval_examples=200)
    data = t.load(data_dir)
    train = mirror_rows(data_dir, "stsb", "train")
    targets = [train[i]["label"] for i in data.splits["train"]["idx"]]
    mean = sum(targets) / len(targets)
    method, predictions = t.trivial_predictions(data)
    assert predictions.tolist() == pytest.approx([mean] * 200)
    assert method.startswith(f"mean target {mean:.4g} of the training split (400 rows)")
    assert "undefined" in method and "0.0" in method
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's ConstantInputWarning would be an error here
        metrics = t.score(predictions, data.splits["report"])
    assert metrics == {"pearson": 0.0, "spearman": 0.0}
