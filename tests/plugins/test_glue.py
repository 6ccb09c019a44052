"""GLUE and IMDb tasks: split roles, official metrics on known cases, Hub-only tasks configured."""

from __future__ import annotations

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
