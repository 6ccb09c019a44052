"""Every declared kind from real files in every format (CSV, TSV, JSON, JSON Lines, Parquet, gzipped),
built at test time from the offline mirror: each format loads to the same rows, each kind trains a
tiny BERT and scores, and errors found only when loading name the file and the row."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tlbench import DataError, ModelRef, get_plugins, load_suite
from tlbench.runner import prepare_job
from tlbench.testing import tiny_bert

ROWS = 60
FORMATS = ("csv", "tsv.gz", "json", "jsonl", "jsonl.gz", "parquet")
SMALL = "select_examples = 12\nmax_length = 48\n"


def _rows(data_dir: Path, task: str, split: str, n: int = ROWS) -> list[dict]:
    with gzip.open(data_dir / task / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def frames(data_dir: Path, kind: str, split: str, flat: bool) -> pd.DataFrame:
    """A split of each kind, as a user would have it (``flat``: no lists, for CSV and TSV)."""
    source = "train" if split == "train" else "validation"
    if kind in ("classification", "pair_classification", "regression"):
        task = {"classification": "sst2", "pair_classification": "mrpc", "regression": "stsb"}[kind]
        rows = _rows(data_dir, task, source)
        if kind == "classification":
            return pd.DataFrame({"body": [r["sentence"] for r in rows], "y": [r["label"] for r in rows]})
        return pd.DataFrame({"a": [r["sentence1"] for r in rows], "b": [r["sentence2"] for r in rows],
                             "y": [r["label"] for r in rows]})
    if kind == "token_classification":
        tags = json.loads((data_dir / "conll2003" / "labels.json").read_text())["ner_tags"]
        rows = _rows(data_dir, "conll2003", source)
        words, marks = [r["tokens"] for r in rows], [[tags[t] for t in r["ner_tags"]] for r in rows]
        if flat:
            return pd.DataFrame({"w": [" ".join(x) for x in words], "t": [" ".join(x) for x in marks]})
        return pd.DataFrame({"w": words, "t": marks})
    rows = _rows(data_dir, "squad", "validation", 2 * ROWS)[:ROWS] if split == "train" else \
        _rows(data_dir, "squad", "validation", 2 * ROWS)[ROWS:]
    out = {"q": [r["question"] for r in rows], "c": [r["context"] for r in rows],
           "id": [r["id"] for r in rows]}
    if flat:
        return pd.DataFrame({**out, "ans": [r["answers"]["text"][0] for r in rows],
                             "at": [r["answers"]["answer_start"][0] for r in rows]})
    answers = [{"text": r["answers"]["text"][:1], "answer_start": r["answers"]["answer_start"][:1]}
               for r in rows]
    return pd.DataFrame({**out, "answers": answers})


def write(frame: pd.DataFrame, path: Path) -> None:
    name = path.name.removesuffix(".gz")
    compression = "gzip" if path.name.endswith(".gz") else None
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith((".csv", ".tsv")):
        frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",", compression=compression)
    else:
        frame.to_json(path, orient="records", lines=name.endswith(".jsonl"), force_ascii=False,
                      compression=compression)


COLUMNS = {"classification": '{ text = "body", label = "y" }',
           "pair_classification": '{ text = "a", text_pair = "b", label = "y" }',
           "regression": '{ text = "a", text_pair = "b", label = "y" }',
           "token_classification": '{ tokens = "w", tags = "t" }'}


def declare(root: Path, data_dir: Path, kind: str, fmt: str) -> str:
    flat = fmt.startswith(("csv", "tsv"))
    for split in ("train", "test"):
        write(frames(data_dir, kind, split, flat), root / f"{kind}_{split}.{fmt}")
    columns = COLUMNS.get(kind) or ('{ question = "q", context = "c", answer = "ans", answer_start = "at" }'
                                    if flat else '{ question = "q", context = "c", answers = "answers" }')
    label = f"{kind}_{fmt.replace('.', '_')}"
    window = "doc_stride = 16\n" if kind == "extractive_qa" else ""
    return (f'[tasks.{label}]\nkind = "{kind}"\n{SMALL}{window}columns = {columns}\n'
            f'data_files = {{ train = "{kind}_train.{fmt}", test = "{kind}_test.{fmt}" }}\n\n')


KINDS = ("classification", "pair_classification", "regression", "token_classification", "extractive_qa")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory):
    import os

    data_dir = Path(os.environ.get("TLBENCH_DATA_DIR", ""))
    if not data_dir.is_dir():
        pytest.skip("no benchmark mirror")
    root = tmp_path_factory.mktemp("kinds")
    text = 'models = ["tiny"]\nseeds = [0]\n[strategies.linear_probe]\nepochs = 2\n\n'
    text += "".join(declare(root, data_dir, kind, fmt) for kind in KINDS for fmt in FORMATS)
    (root / "suite.toml").write_text(text)
    return load_suite(root / "suite.toml")


def task_of(suite, label: str):
    comp = next(t for t in suite.tasks if t.label == label)
    return get_plugins().tasks.get(comp.name).factory(comp.name, comp.options)


@pytest.mark.parametrize("kind", KINDS)
def test_every_format_loads_the_same_rows(suite, kind):
    loaded = {fmt: task_of(suite, f"{kind}_{fmt.replace('.', '_')}").load(None) for fmt in FORMATS}
    first = loaded["csv"]
    for fmt, data in loaded.items():
        assert data.sizes() == first.sizes(), fmt
        assert data.label_names == first.label_names, fmt
        for role in ("train", "select", "report"):
            got, want = data.splits[role].to_list(), first.splits[role].to_list()
            if kind == "extractive_qa":  # ids: the file's own; answers as given either way
                assert [r["answers"] for r in got] == [r["answers"] for r in want], fmt
            assert [{k: v for k, v in r.items() if k != "id"} for r in got] == \
                [{k: v for k, v in r.items() if k != "id"} for r in want], (fmt, role)
        src = data.sources["train"]
        assert src.location == f"{kind}_train.{fmt}" and len(src.sha256) == 64
        assert src.sha256 in src.description


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    return ModelRef("tiny-bert", str(tiny_bert(tmp_path_factory.mktemp("tiny"))), "test")


@pytest.mark.parametrize(("kind", "fmt"), [("classification", "csv"), ("pair_classification", "jsonl"),
                                           ("regression", "parquet"), ("token_classification", "tsv.gz"),
                                           ("extractive_qa", "json")])
def test_each_kind_trains_scores_and_has_a_trivial_baseline(suite, model, kind, fmt, tmp_path):
    plugins = get_plugins()
    task = task_of(suite, f"{kind}_{fmt.replace('.', '_')}")
    data = task.load(None)
    entry = plugins.strategies.get("linear_probe")
    job = prepare_job(task, model, data, seed=0, device="cpu", cache_dir=tmp_path, plugins=plugins)
    metrics = job.score("report", entry.factory("linear_probe", entry.factory.Options(epochs=2)).fit(job)
                        .predict("report"))
    assert task.primary_metric in metrics and all(math.isfinite(v) for v in metrics.values())
    method, trivial = task.trivial_predictions(data)
    assert len(trivial) == len(data.splits["report"]) and method
    assert math.isfinite(task.score(trivial, data.splits["report"])[task.primary_metric])
    if kind in ("classification", "pair_classification"):
        assert data.label_names == ("0", "1")  # integers, sorted, named in the record


def test_primary_metric_and_mcc_are_the_suite_s(tmp_path, suite):
    task = task_of(suite, "classification_csv")
    assert task.primary_metric == "accuracy" and "matthews" not in task.score([0, 1], {"label": [0, 1]})
    options = task.options.model_copy(update={"primary_metric": "matthews"})
    other = type(task)("classification", options)
    assert other.primary_metric == "matthews" and other.score([0, 1], {"label": [0, 1]})["matthews"] == 1.0


@pytest.mark.parametrize(("name", "content", "message"), [
    ("late.csv", "body,y\n" + "fine,1\nbad,0\n" * 750 + "\"a, b\",1,extra\n",
     "late.csv, row 1501 (line 1502): 3 fields"),
    ("latin.csv", b"body,y\n" + b"fine,1\nbad,0\n" * 750 + b"caf\xe9,0\n",
     "latin.csv, line 1502: not UTF-8 text (byte 0xe9 at column 4)"),
    ("cut.csv.gz", gzip.compress(("body,y\n" + "fine,1\nbad,0\n" * 10000).encode())[:-40],
     "cut.csv.gz, after line "),
    ("bad.jsonl", '{"body": "x", "y": 1}\n{"body": "z", "y": 0}\n' * 750 + '{"body": "x", "y": \n',
     "bad.jsonl, line 1501: not valid JSON"),
])
def test_errors_found_when_loading_name_the_file_and_row(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "ok.csv").write_text("body,y\nfine,1\nbad,0\n")
    (tmp_path / "s.toml").write_text(
        'models = ["m"]\nseeds = [0]\n[strategies.linear_probe]\n[tasks.t]\nkind = "classification"\n'
        f'data_files = {{ train = "{name}", test = "ok.csv" }}\ncolumns = {{ text = "body", label = "y" }}\n')
    task = task_of(load_suite(tmp_path / "s.toml"), "t")  # the first 1,000 rows are fine: validation passes
    with pytest.raises(DataError) as info:
        task.load(None)
    assert message in str(info.value)


def test_one_tokenization_cuts_as_the_tokenizer_does(data_dir, tmp_path):
    """encode_texts tokenizes a single text once and cuts it itself: the tokenizer's own ids."""
    from transformers import AutoTokenizer

    from tlbench import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert(tmp_path / "tiny"))
    texts = [r["sentence"] for r in _rows(data_dir, "sst2", "train", 300)]
    texts += [r["text"] for r in _rows(data_dir, "imdb", "test", 100)]
    for length in (3, 16, 64, 512):
        got = encode_texts(tokenizer, texts, [0] * len(texts), length)
        full = tokenizer(texts, truncation=False)["input_ids"]
        assert got["input_ids"] == tokenizer(texts, truncation=True, max_length=length)["input_ids"]
        assert got["n_tokens"] == [len(x) for x in full]
        assert got["truncated"] == [len(x) > length for x in full]
