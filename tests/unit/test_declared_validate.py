"""``tlbench validate`` on tasks declared from files (``kind = ...``): every problem a look at headers
and samples finds, with the file, the key and what is allowed; exit status 2, no traceback, nothing
written; no torch imported. The files are built at test time from the offline mirror."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tlbench.cli import app
from tlbench.config import load_suite
from tlbench.errors import ConfigError

# a model found offline (its validation in a subprocess may not ask the Hub: tlbench.model_checks)
HEAD = 'models = ["sentence-transformers/all-MiniLM-L6-v2"]\nseeds = [0]\n[strategies.linear_probe]\n\n'


@pytest.fixture
def files(tmp_path: Path, data_dir: Path) -> Path:
    """SST-2 rows as reviews_{train,test}.csv (``body``, ``stars``) and the same as JSON Lines."""
    names = json.loads((data_dir / "sst2" / "labels.json").read_text())["label"]
    with gzip.open(data_dir / "sst2" / "validation.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh][:200]
    (tmp_path / "data").mkdir()
    for split, part in (("train", rows[:150]), ("test", rows[150:])):
        lines = ["body,stars"] + [f'"{r["sentence"].replace(chr(34), chr(34) * 2)}",{names[r["label"]]}'
                                  for r in part]
        (tmp_path / "data" / f"reviews_{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with open(tmp_path / "data" / f"reviews_{split}.jsonl", "w", encoding="utf-8") as fh:
            for r in part:
                fh.write(json.dumps({"body": r["sentence"], "stars": names[r["label"]]}) + "\n")
    return tmp_path


def suite(root: Path, body: str) -> Path:
    path = root / "suite.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return info.value.problems


def reviews(train: str = "data/reviews_train.csv", test: str = "data/reviews_test.csv", extra: str = "",
            columns: str = 'columns = { text = "body", label = "stars" }') -> str:
    return ('[tasks.reviews]\nkind = "classification"\n'
            f'data_files = {{ train = "{train}", test = "{test}" }}\n'
            f"{columns}\n{extra}\n")


def test_the_issue_example_validates(files):
    loaded = load_suite(suite(files, reviews()))
    (task,) = loaded.tasks
    assert task.name == "classification" and task.label == "reviews"
    assert task.options.column("text") == "body" and task.options.report == "test"
    assert task.options._suite_dir == files  # relative paths start at the suite's folder


def test_validate_cli_reads_no_whole_file_and_imports_no_torch(files):
    path = suite(files, reviews(train="data/reviews_*.jsonl", test="data/reviews_test.jsonl"))
    code = ("import sys\nfrom tlbench.cli import app\ntry:\n"
            f"    app(['validate', {str(path)!r}])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "loaded = sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules)\n"
            "assert not loaded, loaded\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=files, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_missing_file_names_the_path_as_written_and_resolved(files):
    (problem,) = problems(suite(files, reviews(train="data/nope.csv")))
    assert problem.startswith("tasks.reviews.data_files.train: no file 'data/nope.csv'")
    assert str((files / "data" / "nope.csv").resolve()) in problem


def test_unknown_column_lists_the_columns_and_suggests(files):
    found = problems(suite(files, reviews(columns='columns = { text = "bdy", label = "stars" }')))
    assert len(found) == 2  # train and test
    assert "reviews_train.csv has no column 'bdy' (the text column). Did you mean: body?" in found[0]
    assert "Its columns: body, stars" in found[0]


def test_unknown_kind_lists_the_kinds(files):
    (problem,) = problems(suite(files, reviews().replace('"classification"', '"clasification"')))
    assert problem.startswith(
        "tasks.reviews.kind: unknown kind 'clasification'. Did you mean: classification")
    assert "Kinds: classification, extractive_qa, pair_classification, regression, token_classification." \
        in problem


def test_unknown_role_and_metric_name_what_the_kind_offers(files):
    (problem,) = problems(suite(files, reviews(columns='columns = { txt = "body", label = "stars" }')))
    assert problem == ("tasks.reviews: columns: unknown role 'txt'. Did you mean: text? "
                       "Roles of this kind: text, text_pair, label")
    (problem,) = problems(suite(files, reviews(extra='primary_metric = "pearson"')))
    assert "primary_metric 'pearson' is not offered by this kind; choose one of accuracy, macro_f1" in problem


def test_no_training_split(files):
    body = ('[tasks.reviews]\nkind = "classification"\ndata_files = { test = "data/reviews_test.csv" }\n'
            'columns = { text = "body", label = "stars" }\n')
    (problem,) = problems(suite(files, body))
    assert problem.startswith("tasks.reviews: no training split: data_files names test, not 'train'")


def test_empty_and_mixed_label_columns(files):
    (files / "data" / "empty.csv").write_text("body,stars\nnice,\nbad,\n")
    (files / "data" / "mixed.csv").write_text("body,stars\nnice,1\nbad,negative\n")
    found = problems(suite(files, reviews(train="data/empty.csv")))
    assert any("empty.csv: the label column 'stars' is empty" in p for p in found), found
    found = problems(suite(files, reviews(train="data/mixed.csv")))
    assert any("mixed.csv: the label column 'stars' mixes integers and strings (e.g. rows 1 and 2)" in p
               for p in found), found


def test_regression_target_not_numeric_names_file_and_row(files):
    (files / "data" / "scores.csv").write_text("body,stars\nnice,4.5\nbad,1\nmeh,three\n")
    body = reviews(train="data/scores.csv", test="data/scores.csv")
    body = body.replace('"classification"', '"regression"')
    (problem,) = problems(suite(files, body))
    assert problem == (f"tasks.reviews: {files / 'data' / 'scores.csv'}, row 3: regression target 'three' "
                       "in column 'stars' is not a number")


def test_report_labels_never_seen_in_training(files):
    (files / "data" / "odd.csv").write_text("body,stars\nnice,positive\nbad,neutral\n")
    (problem,) = problems(suite(files, reviews(test="data/odd.csv")))
    assert problem == ("tasks.reviews.data_files.test: labels neutral never appear in the training split "
                       "(train)")
    listed = reviews(extra='labels = ["negative", "positive"]', test="data/odd.csv")
    (problem,) = problems(suite(files, listed))
    assert "labels neutral are not among labels = ['negative', 'positive']" in problem


def test_malformed_row_in_the_sample_names_file_and_row(files):
    (files / "data" / "broken.csv").write_text("body,stars\nnice,positive\n\"bad, worse\",negative,extra\n")
    (problem,) = problems(suite(files, reviews(train="data/broken.csv")))
    assert problem.endswith("broken.csv, row 2 (line 3): 3 fields, the header has 2")


def test_cli_exit_status_2_without_traceback_and_nothing_written(files, monkeypatch):
    monkeypatch.chdir(files)
    path = suite(files, reviews(train="data/nope.csv"))
    before = sorted(p.name for p in files.rglob("*"))
    out = CliRunner().invoke(app, ["validate", str(path)])
    assert out.exit_code == 2
    assert "no file 'data/nope.csv'" in out.output and "Traceback" not in out.output
    assert sorted(p.name for p in files.rglob("*")) == before  # no results folder, no storage


def test_hub_needs_a_pinned_revision(files):
    body = '[tasks.r]\nkind = "classification"\nhub = "owner/name"\nreport_split = "test"\n'
    (problem,) = problems(suite(files, body))
    assert problem == "tasks.r: hub = 'owner/name' needs a pinned revision (revision = \"<commit sha>\")"
    loaded = load_suite(suite(files, body.replace("\n", '\nrevision = "0123abc"\n', 1).replace(
        "hub = ", 'config = "default"\nhub = ')))
    assert loaded.tasks[0].options.hub == "owner/name"


def test_unknown_file_format(files):
    (problem,) = problems(suite(files, reviews(train="data/reviews.xlsx")))
    assert "data_files.train: 'data/reviews.xlsx': unknown format" in problem


def test_qa_answers_must_be_spans_of_their_context(files):
    (files / "data" / "qa.csv").write_text('question,passage,answer,start\n'
                                           'Who?,Ann met Bob.,Bob,8\nWhen?,At noon.,midnight,\n'
                                           'Where?,Here.,Here,x\n')
    body = ('[tasks.qa]\nkind = "extractive_qa"\n'
            'data_files = { train = "data/qa.csv", test = "data/qa.csv" }\n'
            'columns = { context = "passage", answer = "answer", answer_start = "start" }\n')
    (problem,) = problems(suite(files, body))  # train and test are one file: said once
    assert problem.endswith("qa.csv, row 2: answer 'midnight' is not in its context")
    (files / "data" / "qa.csv").write_text('question,passage,answer,start\nWhere?,Here.,Here,x\n')
    assert problems(suite(files, body))[0].endswith("qa.csv, row 1: answer_start 'x' is not an integer")
