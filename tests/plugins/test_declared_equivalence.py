"""The declared kinds share the built-ins' code: the offline SST-2 and CoNLL-2003 mirrors, converted
at test time into CSV and Parquet files and declared in a suite (``kind = ...``), give exactly the
built-in tasks' data, trivial baselines and scores on the same seeds (a tiny BERT, the linear probe)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tlbench import ModelRef, get_plugins, load_suite
from tlbench.runner import prepare_job
from tlbench.testing import tiny_bert

CAPS = "max_train_examples = 48\nmax_eval_examples = 24\nselect_examples = 24\nmax_length = 40\n"
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def _rows(data_dir: Path, task: str, split: str) -> list[dict]:
    with gzip.open(data_dir / task / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import SHARED_DATA

    data_dir = Path(os.environ.get("TLBENCH_DATA_DIR", SHARED_DATA))
    if not data_dir.is_dir():
        pytest.skip("no benchmark mirror")
    root = tmp_path_factory.mktemp("declared")
    (root / "data").mkdir()
    names = json.loads((data_dir / "sst2" / "labels.json").read_text())["label"]
    tags = json.loads((data_dir / "conll2003" / "labels.json").read_text())["ner_tags"]
    assert tuple(tags) == TAGS
    for split in ("train", "validation"):
        rows = _rows(data_dir, "sst2", split)
        frame = pd.DataFrame({"sentence": [r["sentence"] for r in rows],
                              "sentiment": [names[r["label"]] for r in rows]})
        for ext in ("csv", "parquet"):
            _write(frame, root / "data" / f"sst2_{split}.{ext}")
    for split in ("train", "validation", "test"):
        rows = _rows(data_dir, "conll2003", split)
        words, marks = [r["tokens"] for r in rows], [[tags[t] for t in r["ner_tags"]] for r in rows]
        _write(pd.DataFrame({"words": words, "ner": marks}), root / "data" / f"conll_{split}.parquet")
        _write(pd.DataFrame({"words": [" ".join(w) for w in words], "ner": [" ".join(m) for m in marks]}),
               root / "data" / f"conll_{split}.csv")
    text = f'models = ["tiny"]\nseeds = [0]\n\n[tasks.sst2]\n{CAPS}\n[tasks.conll2003]\n{CAPS}\n'
    for ext in ("csv", "parquet"):
        text += (f'[tasks.sst2_{ext}]\nkind = "classification"\n{CAPS}'
                 f'data_files = {{ train = "data/sst2_train.{ext}", '
                 f'validation = "data/sst2_validation.{ext}" }}\n'
                 'columns = { text = "sentence", label = "sentiment" }\n\n'
                 f'[tasks.conll_{ext}]\nkind = "token_classification"\n{CAPS}'
                 f'data_files = {{ train = "data/conll_train.{ext}", '
                 f'validation = "data/conll_validation.{ext}", '
                 f'test = "data/conll_test.{ext}" }}\nselect_split = "validation"\nreport_split = "test"\n'
                 'columns = { tokens = "words", tags = "ner" }\n'
                 f'labels = {json.dumps(list(TAGS))}\n\n')
    text += "[strategies.linear_probe]\nepochs = 2\n"
    (root / "suite.toml").write_text(text)
    return load_suite(root / "suite.toml", check_data=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    return ModelRef("tiny-bert", str(tiny_bert(tmp_path_factory.mktemp("tiny"))), "test")


def _outcome(suite, label: str, model: ModelRef, cache: Path) -> dict:
    plugins = get_plugins()
    comp = next(t for t in suite.tasks if t.label == label)
    task = plugins.tasks.get(comp.name).factory(comp.name, comp.options)
    data = task.load(suite.data_dir)
    strategy = plugins.strategies.get("linear_probe").factory(
        "linear_probe", plugins.strategies.get("linear_probe").factory.Options(epochs=2))
    job = prepare_job(task, model, data, seed=0, device="cpu", cache_dir=cache, plugins=plugins)
    fitted = strategy.fit(job)
    method, trivial = task.trivial_predictions(data)
    return {"sizes": data.sizes(), "head": task.head, "report": job.score("report", fitted.predict("report")),
            "select": job.score("select", fitted.predict("select")),
            "trivial": task.score(trivial, data.splits["report"]),
            "rows": [data.splits[r][0] for r in ("train", "select", "report")]}


@pytest.mark.parametrize(("builtin", "declared"), [
    ("sst2", "sst2_csv"), ("sst2", "sst2_parquet"),
    ("conll2003", "conll_csv"), ("conll2003", "conll_parquet")])
def test_declared_files_score_exactly_as_the_builtin(suite, model, builtin, declared, tmp_path):
    want = _outcome(suite, builtin, model, tmp_path / "a")
    got = _outcome(suite, declared, model, tmp_path / "b")
    assert got["sizes"] == want["sizes"] and got["head"] == want["head"]
    assert got["trivial"] == want["trivial"]
    assert got["select"] == want["select"]
    assert got["report"] == want["report"]
    assert [_key(r) for r in got["rows"]] == [_key(r) for r in want["rows"]]


def _key(row: dict) -> tuple:
    """A row's text and label ids, whatever the task calls their columns."""
    text = row["text"] if "text" in row else row.get("sentence", row.get("tokens"))
    return text, row["label"] if "label" in row else row.get("tags", row.get("ner_tags"))
