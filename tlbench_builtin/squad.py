"""SQuAD v1.1 extractive question answering (Rajpurkar et al., 2016), ``rajpurkar/squad``.

Each question has a Wikipedia paragraph (``context``) and one or more gold answers, all spans of that
paragraph. The model reads the question and the paragraph and gives a start and an end logit per
token (a ``span`` head); the answer is the best-scoring valid span, mapped back to characters.

Split roles. The official protocol trains on train (87,599 questions) and reports on the whole
validation split (10,570 questions, 48 articles). With train available (the Hub, or a mirror holding
``train.jsonl.gz``) that is what runs: selection questions are carved from train *by article* (whole
titles, seeded, until ``select_examples`` questions), so no paragraph is both trained and chosen on.

The offline mirror has no train split. Then the validation questions are split by article into
disjoint parts, fixed by ``split_seed``: 60% of the titles train, 20% select and 20% report (of 48
titles: 28, 10 and 10; question counts follow the articles' sizes). Questions of one article share
paragraphs, so splitting by question would leak answers. This variant is *not* the official
protocol and is named apart: its label is ``squad[dev-articles]`` (``squad[dev-articles,report:N]``
when the report part is capped), and every DataSource description says so.

Encoding follows the Hugging Face question-answering example: question first, context second, only
the context is cut (``truncation="only_second"``) into windows of ``max_length`` tokens overlapping
by ``doc_stride``. A window's target is the first gold answer's token span, or the [CLS] token (0/0)
when the answer is not wholly inside the window. Questions longer than the window allows (never in
SQuAD at the default sizes) are cut so that a window still advances by at least 16 context tokens.
Rows of questions needing more than one window have ``truncated`` set; with ``example_id`` the record's
truncated share counts questions, not windows (at 192 tokens about a third of the questions, at 256
about 11%, at 384 under 2%).

Decoding follows the example's postprocessing: for every window of a question, the ``n_best`` start
and end logits among its context tokens, spans with end >= start and at most ``max_answer_length``
tokens, scored start + end; the best span over all windows is cut from the context by its offsets.
Metrics are the official v1.1 script's exact match and F1 (:mod:`tlbench_builtin.squad_metric`), in
percent (0-100), each question's prediction scored against its best-matching gold answer. The
leaderboard's paired bootstrap resamples the report questions by paragraph (``item_clusters``):
questions on one paragraph are not independent items.

The trivial baseline (``trivial_predictions``) answers every question with the first sentence of
its context (:func:`first_sentence`: up to the first ".", "!" or "?" followed by whitespace and a capital).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from tlbench import DataError, HeadSpec, Task, TaskData, TaskOptions, cap, hookimpl, load_split, mirror_file
from tlbench_builtin.squad_metric import evaluate

HUB_ID, HUB_CONFIG, FOLDER = "rajpurkar/squad", "plain_text", "squad"
COLUMNS = ("id", "title", "context", "question", "answers")
#: shares of the validation split's titles in the offline (no train split) variant
DEV_ARTICLE_SHARES = {"train": 0.6, "select": 0.2, "report": 0.2}
#: a window advances at least this many context tokens (long questions are cut to allow it)
MIN_ADVANCE = 16
NO_OFFSET = (-1, -1)  # the offsets of question and special tokens
NOT_OFFICIAL = ("NOT the official SQuAD protocol (train on train, report on all of validation): the "
                "mirror has no train split, so validation is split into disjoint article sets")
#: a candidate end of the first sentence: ".", "!" or "?", then whitespace (a capital must follow)
_SENTENCE_END = re.compile(r"[.!?]\s+(?=\S)")
FIRST_SENTENCE = ("the context's first sentence (up to the first '.', '!' or '?' followed by whitespace "
                  "and a capital letter, the mark included; else the whole context)")


class SquadOptions(TaskOptions):
    max_length: int = Field(256, gt=1, le=8192, description="tokens per window (question + context part)")
    doc_stride: int = Field(64, ge=0, description="context tokens shared by consecutive windows")
    max_answer_length: int = Field(30, gt=0, description="longest answer span predicted, in tokens")
    n_best: int = Field(20, gt=0, description="start and end candidates per window when decoding")

    @model_validator(mode="after")
    def _window_advances(self) -> SquadOptions:
        if self.max_length < self.doc_stride + 32:
            raise ValueError(f"max_length ({self.max_length}) must exceed doc_stride ({self.doc_stride}) "
                             "by at least 32 tokens: room for the question, special tokens and a window "
                             "that moves on")
        return self


def article_order(titles: Sequence[str], seed: int) -> list[str]:
    """The distinct titles in a seeded random order (independent of the rows' order)."""
    unique = sorted(set(titles))
    return [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]


def rows_with_titles(ds: Any, titles: set[str]) -> Any:
    return ds.select([i for i, t in enumerate(ds["title"]) if t in titles])


def carve_articles(ds: Any, questions: int, seed: int) -> tuple[Any, Any, int, int]:
    """Split whole articles off ``ds`` (seeded) until they hold at least ``questions`` questions.

    Returns (rest, carved, carved titles, all titles)."""
    order = article_order(ds["title"], seed)
    counts = Counter(ds["title"])
    taken, n = set(), 0
    for title in order:
        if n >= questions:
            break
        taken.add(title)
        n += counts[title]
    if len(taken) >= len(order):
        raise DataError(f"cannot carve {questions} selection questions by article from a train split "
                        f"of {len(ds)} questions in {len(order)} articles")
    return rows_with_titles(ds, set(order) - taken), rows_with_titles(ds, taken), len(taken), len(order)


def split_articles(ds: Any, seed: int) -> dict[str, tuple[Any, int]]:
    """Disjoint article sets of ``ds`` by :data:`DEV_ARTICLE_SHARES`: role -> (rows, titles)."""
    order = article_order(ds["title"], seed)
    n = len(order)
    n_report = max(1, round(n * DEV_ARTICLE_SHARES["report"]))
    n_select = max(1, round(n * DEV_ARTICLE_SHARES["select"]))
    if n - n_report - n_select < 1:
        raise DataError(f"{n} articles cannot be split into train, select and report parts")
    parts = {"report": order[:n_report], "select": order[n_report:n_report + n_select],
             "train": order[n_report + n_select:]}
    return {role: (rows_with_titles(ds, set(titles)), len(titles)) for role, titles in parts.items()}


def answer_span(offsets: Sequence[Sequence[int]], start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token span (first, last) of characters [start_char, end_char) among the context tokens
    (offsets [-1, -1] elsewhere), or None when the window does not hold the whole answer."""
    context = [t for t, (a, _) in enumerate(offsets) if a >= 0]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return None
    start = max(t for t in context if offsets[t][0] <= start_char)
    end = min(t for t in context if offsets[t][1] >= end_char)
    return start, max(end, start)


def best_span(logits: np.ndarray, offsets: np.ndarray, n_best: int,
              max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, first token, last token) of one window's best valid span, or None.

    Candidates are the ``n_best`` highest start and end logits among the context tokens; a span is
    valid when end >= start and it is at most ``max_answer_length`` tokens long; its score is the sum
    of its start and end logits (the Hugging Face example's postprocessing)."""
    if len(logits) != len(offsets):
        raise ValueError(f"{len(logits)} token outputs for a window of {len(offsets)} tokens")
    context = np.flatnonzero(offsets[:, 0] >= 0)
    if not len(context):
        return None
    start_logits, end_logits = logits[context, 0], logits[context, 1]
    starts = context[np.argsort(-start_logits, kind="stable")[:n_best]]
    ends = context[np.argsort(-end_logits, kind="stable")[:n_best]]
    scores = logits[starts, 0][:, None] + logits[ends, 1][None, :]
    length = ends[None, :] - starts[:, None]
    scores = np.where((length >= 0) & (length < max_answer_length), scores, -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    if not np.isfinite(scores[i, j]):
        return None
    return float(scores[i, j]), int(starts[i]), int(ends[j])


def first_sentence(context: str) -> str:
    """The trivial answer to any question on ``context``: its first sentence, a substring of it.

    The sentence starts at the first non-space character and ends with the first ".", "!" or "?"
    that whitespace and then a capital letter (``str.isupper``) follow, the mark included; without
    one, it is the whole context (trailing whitespace left out). A documented heuristic, not a
    sentence splitter: an abbreviation before a capital ends it ("the U.S. Army" after "U.S."), and
    a mark followed by a quote or a digit does not. The official metric drops punctuation, so
    including the mark changes no score."""
    start = len(context) - len(context.lstrip())
    for end in _SENTENCE_END.finditer(context, start):
        if context[end.end()].isupper():
            return context[start:end.start() + 1]
    return context[start:].rstrip()


def paragraph_label(title: str, context: str) -> str:
    """A paragraph's cluster label: ``title#`` and the first 10 hex digits of its text's sha256
    (stable across loads, caps and seeds; equal only for the same paragraph of the same article)."""
    return f"{title}#{hashlib.sha256(context.encode('utf-8')).hexdigest()[:10]}"


class ExtractiveQA(Task):
    """Extractive QA: ``id``, ``title``, ``context``, ``question`` and SQuAD's ``answers`` ({text,
    answer_start} lists) per question; windows, span decoding and the official v1.1 metric. The
    base of SQuAD and of the declared ``extractive_qa`` kind: a subclass loads the data."""

    Options = SquadOptions
    options: SquadOptions
    primary_metric = "f1"
    secondary_metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
    #: training subsets (the cap drawn with ``train_seed``); no per-class sizes: no classes
    training_draws: ClassVar[frozenset[str]] = frozenset({"subset"})
    metric_scale: ClassVar[float] = 100.0  # the official script's percentages

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("span", 2)

    def _questions(self, tokenizer: Any, questions: Sequence[str]) -> list[str]:
        """Questions without leading whitespace, cut where they would leave a window no room."""
        questions = [q.lstrip() for q in questions]
        room = (self.options.max_length - self.options.doc_stride - MIN_ADVANCE
                - tokenizer.num_special_tokens_to_add(pair=True))
        tokens = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        return [q if len(offs) <= room else q[:offs[room - 1][1]]
                for q, offs in zip(questions, tokens["offset_mapping"], strict=True)]

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """One row per window: ``input_ids`` (and ``token_type_ids``), ``start_positions`` and
        ``end_positions`` (the answer's tokens, 0/0 = [CLS] when not in the window), ``example_id``,
        ``offsets`` (character span per context token, [-1, -1] elsewhere), ``n_tokens`` (the whole
        question + context length) and ``truncated`` (the question needs several windows)."""
        o = self.options
        enc = tokenizer(self._questions(tokenizer, batch["question"]), batch["context"],
                        truncation="only_second", max_length=o.max_length, stride=o.doc_stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
        mapping = enc["overflow_to_sample_mapping"]
        out: dict[str, list[Any]] = defaultdict(list)
        windows: dict[int, list[int]] = defaultdict(list)
        for row, ex in enumerate(mapping):
            ids = enc["input_ids"][row]
            sequence = enc.sequence_ids(row)
            # the tokenizer's own (start, end) tuples: new lists per token would cost more in
            # garbage collection than the tokenization itself
            offsets = [off if s == 1 else NO_OFFSET
                       for off, s in zip(enc["offset_mapping"][row], sequence, strict=True)]
            answers = batch["answers"][ex]
            span = None
            if answers["text"]:
                start_char = int(answers["answer_start"][0])
                span = answer_span(offsets, start_char, start_char + len(answers["text"][0]))
            cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
            out["input_ids"].append(ids)
            if "token_type_ids" in enc:
                out["token_type_ids"].append(enc["token_type_ids"][row])
            out["start_positions"].append(span[0] if span else cls)
            out["end_positions"].append(span[1] if span else cls)
            out["example_id"].append(str(batch["id"][ex]))
            out["offsets"].append(offsets)
            windows[ex].append(row)
        out["n_tokens"], out["truncated"] = [0] * len(mapping), [False] * len(mapping)
        for rows in windows.values():
            # the first window holds the question and special tokens; each later one adds its
            # context tokens less the ``doc_stride`` it repeats
            context = [sum(1 for a, _ in out["offsets"][r] if a >= 0) for r in rows]
            n = len(out["input_ids"][rows[0]]) + sum(c - o.doc_stride for c in context[1:])
            for r in rows:
                out["n_tokens"][r], out["truncated"][r] = n, len(rows) > 1
        return dict(out)

    def decode(self, outputs: Any, encoded: Any, split: Any) -> list[str]:
        """One answer string per question of ``split``, in its order ("" when no window of the
        question has a valid span)."""
        if len(outputs) != len(encoded["example_id"]):
            raise ValueError(f"{len(outputs)} outputs for {len(encoded['example_id'])} encoded windows")
        by_example: dict[str, list[int]] = defaultdict(list)
        for row, example in enumerate(encoded["example_id"]):
            by_example[example].append(row)
        o = self.options
        answers = []
        for example, context in zip(split["id"], split["context"], strict=True):
            best: tuple[float, int, int] | None = None
            for row in by_example.get(str(example), []):
                offsets = np.asarray(encoded["offsets"][row], dtype=np.int64).reshape(-1, 2)
                found = best_span(np.asarray(outputs[row], dtype=np.float64), offsets, o.n_best,
                                  o.max_answer_length)
                if found and (best is None or found[0] > best[0]):
                    best = (found[0], int(offsets[found[1], 0]), int(offsets[found[2], 1]))
            answers.append(context[best[1]:best[2]] if best else "")
        return answers

    def references(self, split: Any) -> list[list[str]]:
        return [list(a["text"]) for a in split["answers"]]

    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        """The official SQuAD v1.1 ``exact_match`` and ``f1``, in percent (0-100) as the official
        script reports them, each question scored against its best-matching gold answer."""
        return evaluate(list(predictions), self.references(split))

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """Each report question answered with its context's first sentence (:func:`first_sentence`),
        a substring of the context as :meth:`decode`'s answers are. Reads no answer."""
        return FIRST_SENTENCE, [first_sentence(c) for c in data.splits["report"]["context"]]

    def item_stats(self, predictions: Any, split: Any) -> tuple[list[list[float]], str] | None:
        """Each question's F1 (percent, against its best gold answer): their mean is the F1."""
        from tlbench_builtin.squad_metric import f1_score, metric_max_over_ground_truths

        return [[100.0 * metric_max_over_ground_truths(f1_score, p, refs)]
                for p, refs in zip(predictions, self.references(split), strict=True)], "mean"

    def item_clusters(self, split: Any) -> tuple[str, list[str]] | None:
        """Questions on one paragraph are resampled together: one label per question (as
        :meth:`item_stats`' rows), its article's title and a short hash of its paragraph."""
        return "paragraph", [paragraph_label(title, context)
                             for title, context in zip(split["title"], split["context"], strict=True)]


class Squad(ExtractiveQA):
    description = ("SQuAD v1.1 extractive QA; official F1 and exact match (0-100). Offline: split by "
                   "article from the validation split (squad[dev-articles], not the official protocol)")
    source_datasets: ClassVar[tuple[str, ...]] = ("squad",)

    def required_files(self, data_dir: Path) -> list[Path]:
        train = mirror_file(data_dir, FOLDER, "train")
        return [mirror_file(data_dir, FOLDER, "validation"), *([train] if train.is_file() else [])]

    def _load(self, data_dir: Path | None, split: str) -> tuple[Any, Any]:
        return load_split(data_dir, FOLDER, split, HUB_ID, HUB_CONFIG, required=COLUMNS)

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        validation, val_src = self._load(data_dir, "validation")
        if data_dir is None or mirror_file(data_dir, FOLDER, "train").is_file():
            train, train_src = self._load(data_dir, "train")
            train, select, n_select, n_titles = carve_articles(train, o.select_examples, o.split_seed)
            splits = {"train": train, "select": select, "report": validation}
            sources = {"train": train_src, "report": val_src, "select": replace(
                train_src, description=f"{train_src.description}: {len(select)} questions of "
                f"{n_select} of {n_titles} articles carved by title (seed {o.split_seed})")}
            full = len(validation)
            report = cap(validation, o.max_eval_examples, o.split_seed)
            label = self.name if len(report) == full else f"{self.name}[validation:{len(report)}]"
        else:
            parts = split_articles(validation, o.split_seed)
            splits = {role: rows for role, (rows, _) in parts.items()}
            n_titles = sum(k for _, k in parts.values())
            sources = {role: replace(val_src, description=(
                f"{val_src.description}: {role} part, {len(rows)} questions of {k} of {n_titles} "
                f"articles (seed {o.split_seed}); {NOT_OFFICIAL}")) for role, (rows, k) in parts.items()}
            full = len(splits["report"])
            report = cap(splits["report"], o.max_eval_examples, o.split_seed)
            label = (f"{self.name}[dev-articles]" if len(report) == full
                     else f"{self.name}[dev-articles,report:{len(report)}]")
        splits = {"train": cap(splits["train"], o.max_train_examples, o.train_seed),  # the subset's draw
                  "select": cap(splits["select"], o.max_eval_examples, o.split_seed),
                  "report": report}
        return TaskData(splits=splits, sources=sources, label=label)  # type: ignore[arg-type]


@hookimpl
def register_tasks(register):
    register("squad", Squad)
