"""The in-memory toy tasks of the conformance kit (:mod:`tlbench.testing`, which re-exports them):
five-word sentences over a tiny vocabulary that a few epochs on a random tiny BERT can learn, as
text classification (:class:`ToyTask`), token classification (:class:`ToyTagTask`) and regression
(:class:`ToyRegressionTask`). Each has the trivial baseline of its kind."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tlbench.interfaces import DataSource, HeadSpec, Role, Task, TaskData

GOOD = ["good", "great", "fine", "nice", "superb"]
BAD = ["bad", "awful", "poor", "dull", "boring"]
FILLER = ["the", "movie", "film", "was", "plot", "acting", "very", "quite", "and", "a"]
TOY_LABELS = ("negative", "positive")


def toy_rows(n: int, seed: int) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    sentences, labels = [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, 4) + [rng.choice(GOOD if label else BAD)]
        rng.shuffle(words)
        sentences.append(" ".join(words))
        labels.append(label)
    return {"sentence": sentences, "label": labels}


class ToyTask(Task):
    """Binary sentiment of five-word sentences; one word decides the label. In memory."""

    primary_metric = "accuracy"
    description = "toy in-memory sentiment task for contract tests"
    #: what :meth:`load` builds: each split's rows (``rows(n, seed)``, the split's seed counting
    #: from ``first_seed``), where they are said to come from and the label names
    rows = staticmethod(toy_rows)
    first_seed = 0
    location = "memory://toy"
    names: tuple[str, ...] = TOY_LABELS

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", 2)

    def required_files(self, data_dir: Path) -> list[Path]:
        return []

    def load(self, data_dir: Path | None) -> TaskData:
        import datasets

        sizes: dict[Role, int] = {"train": self.options.max_train_examples or 192,
                                  "select": self.options.select_examples,
                                  "report": self.options.max_eval_examples or 64}
        splits = {role: datasets.Dataset.from_dict(self.rows(n, seed=self.first_seed + i))
                  for i, (role, n) in enumerate(sizes.items())}
        source = DataSource(self.location, "0")
        return TaskData(splits=splits, sources={r: source for r in splits}, label_names=self.names)

    def encode(self, tokenizer: Any, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        ids = tokenizer(batch["sentence"], truncation=True, max_length=self.options.max_length)
        return {"input_ids": ids["input_ids"], "labels": batch["label"],
                "truncated": [False] * len(batch["label"])}

    def decode(self, outputs: Any, encoded: Any, split: Any) -> Any:  # an array; ToyTagTask's: lists
        return np.asarray(outputs).argmax(-1)

    def score(self, predictions: np.ndarray, split: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(predictions == np.asarray(split["label"])))}

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """The training split's most frequent label for every report row (a tie: the lowest)."""
        labels = list(data.splits["train"]["label"])
        top = max(labels.count(k) for k in set(labels))
        label = min(k for k in set(labels) if labels.count(k) == top)
        return (f"majority class {TOY_LABELS[label]!r} of the training split",
                np.full(len(data.splits["report"]), label))


TAGS = ("O", "B-POS", "I-POS", "B-NEG", "I-NEG")


def toy_tag_rows(n: int, seed: int) -> dict[str, list[Any]]:
    """Sentences of filler words with one sentiment phrase of one or two words, tagged in IOB2.
    ``xq`` is not in the tiny vocabulary, so it splits into sub-tokens (``x``, ``##q``)."""
    rng = random.Random(seed)
    sentences, tags = [], []
    for _ in range(n):
        polarity = rng.randint(0, 1)
        pool, b = (GOOD, 1) if polarity else (BAD, 3)
        phrase = rng.sample(pool, rng.randint(1, 2))
        words = rng.sample(FILLER + ["xq"], 4)
        at = rng.randint(0, len(words))
        words[at:at] = phrase
        row = [0] * len(words)
        row[at:at + len(phrase)] = [b] + [b + 1] * (len(phrase) - 1)
        sentences.append(words)
        tags.append(row)
    return {"tokens": sentences, "tags": tags}


def entity_spans(tags: Any) -> set[tuple[int, int, str]]:
    """(start, end, type) of each IOB2 entity in a row of :data:`TAGS` ids; an I- tag that does not
    continue an entity of its type starts one (conlleval's rule)."""
    spans: set[tuple[int, int, str]] = set()
    start: int | None = None
    kind = ""  # no entity open ("" is no type's name)
    for i, tag in enumerate([*map(int, tags), 0]):
        name = TAGS[tag]
        inside = name.startswith("I-") and kind == name[2:]
        if start is not None and not inside:
            spans.add((start, i, kind))
            start, kind = None, ""
        if name != "O" and not inside:
            start, kind = i, name[2:]
    return spans


class ToyTagTask(ToyTask):
    """Token classification: tag the sentiment phrase (B-/I-POS, B-/I-NEG) among filler words. The
    primary score is entity F1 (exact spans and types, as CoNLL's), where tagging every word "O"
    scores 0; word accuracy, which all-"O" already takes to about 0.72, is secondary. Labels sit on
    each word's first sub-token, as in CoNLL-2003."""

    description = "toy in-memory tagging task for contract tests"
    primary_metric = "f1"
    secondary_metrics = ("accuracy",)
    rows, first_seed, location, names = staticmethod(toy_tag_rows), 10, "memory://toy-tags", TAGS

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("token_classification", len(TAGS))

    def encode(self, tokenizer: Any, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True,
                        max_length=self.options.max_length)
        labels, words = [], []
        for i, row_tags in enumerate(batch["tags"]):
            wids, seen, row = enc.word_ids(i), set(), []
            for w in wids:
                row.append(-100 if w is None or w in seen else row_tags[w])
                seen.add(w)
            labels.append(row)
            words.append([-1 if w is None else w for w in wids])
        return {"input_ids": enc["input_ids"], "labels": labels, "word_ids": words,
                "truncated": [False] * len(labels)}

    def decode(self, outputs: Any, encoded: Any, split: Any) -> list[list[int]]:
        predictions = []
        for logits, wids, tags in zip(outputs, encoded["word_ids"], split["tags"], strict=True):
            row = [0] * len(tags)
            for position in reversed(range(len(wids))):  # reversed: the first sub-token wins
                if wids[position] >= 0:
                    row[wids[position]] = int(np.argmax(logits[position]))
            predictions.append(row)
        return predictions

    def references(self, split: Any) -> list[Any]:
        return list(split["tags"])

    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        pairs = [(p, g) for pred, gold in zip(predictions, split["tags"], strict=True)
                 for p, g in zip(pred, gold, strict=True)]
        found = gold = right = 0
        for pred_row, gold_row in zip(predictions, split["tags"], strict=True):
            p, g = entity_spans(pred_row), entity_spans(gold_row)
            found, gold, right = found + len(p), gold + len(g), right + len(p & g)
        f1 = 2 * right / (found + gold) if found + gold else 0.0
        return {"f1": f1, "accuracy": float(np.mean([p == g for p, g in pairs]))}

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """Every word "O" (tag id 0): entity F1 0."""
        return "every word tagged 'O'", [[0] * len(tags) for tags in data.splits["report"]["tags"]]


def toy_regression_rows(n: int, seed: int) -> dict[str, list[Any]]:
    """Five-word sentences with up to two positive and two negative words among filler; the target
    is (positives - negatives) / 2, from -1 to 1."""
    rng = random.Random(seed)
    sentences, scores = [], []
    for _ in range(n):
        good, bad = rng.randint(0, 2), rng.randint(0, 2)
        words = rng.sample(GOOD, good) + rng.sample(BAD, bad) + rng.sample(FILLER, 5 - good - bad)
        rng.shuffle(words)
        sentences.append(" ".join(words))
        scores.append((good - bad) / 2)
    return {"sentence": sentences, "label": scores}


class ToyRegressionTask(ToyTask):
    """Regression: how positive a five-word sentence is, from its counts of positive and negative
    words. Pearson's r is primary and Spearman's secondary (scipy's); the trivial baseline, the
    training mean for every row, correlates with nothing and scores 0."""

    description = "toy in-memory regression task for contract tests"
    primary_metric = "pearson"
    secondary_metrics = ("spearman",)
    rows, first_seed, location, names = staticmethod(toy_regression_rows), 20, "memory://toy-regression", ()

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("regression", 1)

    def decode(self, outputs: Any, encoded: Any, split: Any) -> Any:
        return np.asarray(outputs, dtype=float)[:, 0]

    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        from tlbench.text_task import correlations

        return correlations(predictions, list(split["label"]))

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        mean = float(np.mean(np.asarray(data.splits["train"]["label"], dtype=float)))
        return (f"mean target {mean:.3g} of the training split (a constant: correlation 0)",
                np.full(len(data.splits["report"]), mean))


__all__ = ["BAD", "FILLER", "GOOD", "TAGS", "TOY_LABELS", "ToyRegressionTask", "ToyTagTask", "ToyTask",
           "entity_spans", "toy_regression_rows", "toy_rows", "toy_tag_rows"]
