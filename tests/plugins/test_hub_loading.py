"""The Hugging Face Hub path, which this machine cannot reach: ``datasets.load_dataset`` is replaced by
a stand-in that serves the offline mirror's rows with the Hub's features (ClassLabel labels, a
sequence of ClassLabel tags, SQuAD's answers) and checks what it is asked for. The built-in tasks
read the same rows from it as from the mirror, and a task declared with ``hub = ...`` reads them too,
with the pinned revision passed through, labels in the dataset's ClassLabel order and the revision in
the record's source."""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tlbench import DataError, get_plugins, load_suite

DATA = Path(os.environ.get("TLBENCH_DATA_DIR", ""))
pytestmark = pytest.mark.skipif(not (DATA / "sst2").is_dir(), reason="no benchmark mirror")
REVISION = "0123456789abcdef0123456789abcdef01234567"
#: Hub id and config -> the mirror's folder
HUB = {("nyu-mll/glue", "sst2"): "sst2", ("eriktks/conll2003", None): "conll2003",
       ("rajpurkar/squad", "plain_text"): "squad"}


def _features(folder: str, row: dict[str, Any]) -> Any:
    import datasets

    names = json.loads((DATA / folder / "labels.json").read_text()) if folder != "squad" else {}
    out = {}
    for column, value in row.items():
        if column in names and isinstance(value, list):
            out[column] = datasets.Sequence(datasets.ClassLabel(names=names[column]))
        elif column in names:
            out[column] = datasets.ClassLabel(names=names[column])
        elif column == "tokens":
            out[column] = datasets.Sequence(datasets.Value("string"))
        elif column == "answers":
            out[column] = datasets.Sequence({"text": datasets.Value("string"),
                                             "answer_start": datasets.Value("int32")})
        else:
            out[column] = datasets.Value("int32" if isinstance(value, int) else "string")
    return datasets.Features(out)


@functools.lru_cache(maxsize=8)
def _served(file: Path, folder: str) -> Any:
    import datasets

    with gzip.open(file, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return datasets.Dataset.from_list(rows, features=_features(folder, rows[0]))


class FakeHub:
    """``datasets.load_dataset`` for Hub ids: the mirror's rows with the Hub's features. SQuAD's
    train split (not in the mirror) is served from its validation rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, str, str | None]] = []

    def __call__(self, path: str, name: str | None = None, *, split: str, revision: str | None = None,
                 **kwargs: Any) -> Any:
        self.calls.append((path, name, split, revision))
        folder = HUB[(path, name)]
        file = DATA / folder / f"{'validation' if folder == 'squad' else split}.jsonl.gz"
        if not file.is_file():
            raise ValueError(f'Unknown split "{split}". Should be one of [...].')
        return _served(file, folder)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    import datasets

    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    return fake


def _task(suite_text: str, tmp_path: Path, label: str) -> Any:
    path = tmp_path / "suite.toml"
    path.write_text('models = ["tiny"]\nseeds = [0]\n[strategies.linear_probe]\n\n' + suite_text)
    suite = load_suite(path)
    comp = next(t for t in suite.tasks if t.label == label)
    return get_plugins().tasks.get(comp.name).factory(comp.name, comp.options)


def _rows(data: Any) -> dict[str, list[dict[str, Any]]]:
    return {role: ds.to_list() for role, ds in data.splits.items()}


CAPS = "max_train_examples = 120\nselect_examples = 40\nmax_eval_examples = 60\n"


@pytest.mark.parametrize(("task", "extra"), [("sst2", ""), ("conll2003", ""),
                                              ("squad", "max_length = 96\ndoc_stride = 32\n")])
def test_a_builtin_task_reads_the_same_rows_from_the_hub_as_from_the_mirror(hub, tmp_path, task, extra):
    t = _task(f"[tasks.{task}]\n{CAPS}{extra}", tmp_path, task)
    from_hub = t.load(None)
    assert hub.calls and all(c[0] == t.hub_id if hasattr(t, "hub_id") else True for c in hub.calls)
    assert all(src.location.startswith("hf://datasets/") for src in from_hub.sources.values())
    if task != "squad":  # the mirror's SQuAD is the dev-articles variant: other rows by design
        from_mirror = t.load(DATA)
        assert _rows(from_hub) == _rows(from_mirror)
        assert from_hub.label_names == from_mirror.label_names


def test_a_declared_hub_classification_is_the_builtin_sst2(hub, tmp_path):
    declared = _task(f'[tasks.sentiment]\nkind = "classification"\nhub = "nyu-mll/glue"\nconfig = "sst2"\n'
                     f'revision = "{REVISION}"\nreport_split = "validation"\n'
                     f'columns = {{ text = "sentence" }}\n{CAPS}', tmp_path, "sentiment")
    builtin = _task(f"[tasks.sst2]\n{CAPS}", tmp_path, "sst2")
    got, want = declared.load(None), builtin.load(None)
    assert ("nyu-mll/glue", "sst2", "train", REVISION) in hub.calls
    assert {c[3] for c in hub.calls if c[0] == "nyu-mll/glue" and c[2] == "validation"} >= {REVISION}
    # labels: the ClassLabel's names in its own id order, so the ids are the Hub's (and the built-in's)
    assert got.label_names == want.label_names == ("negative", "positive")
    for role in ("train", "select", "report"):
        assert got.splits[role]["text"] == want.splits[role]["sentence"], role
        assert got.splits[role]["label"] == want.splits[role]["label"], role
    assert got.sources["train"].location == "hf://datasets/nyu-mll/glue/sst2:train"
    assert REVISION in got.sources["report"].description


def test_a_declared_hub_token_task_keeps_the_hub_s_tag_order(hub, tmp_path):
    declared = _task(f'[tasks.ner]\nkind = "token_classification"\nhub = "eriktks/conll2003"\n'
                     f'revision = "{REVISION}"\nreport_split = "test"\ncolumns = {{ tags = "ner_tags" }}\n'
                     f'{CAPS}', tmp_path, "ner")
    builtin = _task(f"[tasks.conll2003]\n{CAPS}", tmp_path, "conll2003")
    got, want = declared.load(None), builtin.load(DATA)
    tags = tuple(json.loads((DATA / "conll2003" / "labels.json").read_text())["ner_tags"])
    assert got.label_names == tags == want.label_names  # not sorted: the dataset's own order
    assert got.splits["report"]["tokens"] == want.splits["report"]["tokens"]
    assert got.splits["report"]["tags"] == want.splits["report"]["ner_tags"]


def test_a_hub_split_that_does_not_exist_names_the_dataset_and_split(hub, tmp_path):
    declared = _task(f'[tasks.sentiment]\nkind = "classification"\nhub = "nyu-mll/glue"\nconfig = "sst2"\n'
                     f'revision = "{REVISION}"\nreport_split = "dev"\ncolumns = {{ text = "sentence" }}\n'
                     f'{CAPS}', tmp_path, "sentiment")
    with pytest.raises(DataError, match=r"nyu-mll/glue \(sst2\) has no split 'dev'"):
        declared.load(None)
