"""The reusable text-task base, :class:`TextTask` (one or two text columns and a label per
example, from a mirror file or the Hugging Face Hub), and its pieces: tokenization with truncation
accounting (:func:`encode_texts`) and metrics from scikit-learn and scipy, the official definitions
GLUE uses (:func:`classification_metrics`, :func:`correlations`).

The built-in GLUE and IMDb tasks subclass :class:`TextTask`, as a plugin's task would. A private
module: import these names from ``tlbench``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tlbench.data import (
    cap,
    carve,
    carved_class_counts,
    draw_train,
    label_names,
    load_split,
    mirror_file,
    mirror_labels,
)
from tlbench.interfaces import HeadSpec, Task, TaskData


def encode_texts(tokenizer: Any, texts: Sequence[str] | tuple[Sequence[str], Sequence[str]],
                 labels: Sequence[Any], max_length: int) -> dict[str, list[Any]]:
    """Token ids cut at ``max_length`` (pairs: the longer text first), each row's untruncated
    length and whether it was cut, and token type ids when the model uses them."""
    pair = isinstance(texts, tuple)
    frame = None if pair else _special_frame(tokenizer)
    if frame is not None and sum(frame) < max_length:
        # one text: tokenize once and cut as the tokenizer would (its special tokens are a fixed
        # prefix and suffix, truncation from the right): the same ids at half the work
        full = tokenizer(texts, truncation=False)["input_ids"]
        keep, suffix = max_length - frame[1], frame[1]
        ids = [x if len(x) <= max_length else x[:keep] + x[len(x) - suffix:] for x in full]
        return {"input_ids": ids, "labels": list(labels), "n_tokens": [len(x) for x in full],
                "truncated": [len(x) > max_length for x in full]}
    args = texts if pair else (texts,)
    full = tokenizer(*args, truncation=False)["input_ids"]
    cut = tokenizer(*args, truncation="longest_first" if pair else True, max_length=max_length)
    out = {"input_ids": cut["input_ids"], "labels": list(labels),
           "n_tokens": [len(x) for x in full], "truncated": [len(x) > max_length for x in full]}
    if pair and "token_type_ids" in cut:
        out["token_type_ids"] = cut["token_type_ids"]
    return out


def _special_frame(tokenizer: Any) -> tuple[int, int] | None:
    """(prefix, suffix): how many special tokens a single text gets before and after its own, when
    every text gets the same ones that way and the tokenizer cuts from the right; else None."""
    if getattr(tokenizer, "truncation_side", "right") != "right":
        return None
    frames = set()
    for probe in ("a", "b c d", "hello world"):
        try:
            framed = list(tokenizer(probe)["input_ids"])
            bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
        except Exception:  # noqa: BLE001 - an unusual tokenizer: tokenize twice
            return None
        starts = [i for i in range(len(framed) - len(bare) + 1) if framed[i:i + len(bare)] == bare]
        if len(starts) != 1 or not bare:
            return None
        at = starts[0]
        frames.add((tuple(framed[:at]), tuple(framed[at + len(bare):])))
    if len(frames) != 1:
        return None
    head, tail = frames.pop()
    return len(head), len(tail)


def classification_metrics(predictions: np.ndarray, references: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 (scikit-learn's definitions)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y = np.asarray(references)
    p, r, f, _ = precision_recall_fscore_support(y, predictions, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(y, predictions)), "macro_precision": float(p),
            "macro_recall": float(r), "macro_f1": float(f)}


def correlations(predictions: np.ndarray, references: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman (scipy). Constant predictions correlate with nothing: 0.0, not NaN,
    so tuning and averaging stay defined (scipy returns NaN with a warning there)."""
    from scipy.stats import pearsonr, spearmanr

    p, y = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"pearson": float(pearsonr(p, y)[0]), "spearman": float(spearmanr(p, y)[0])}


class TextTask(Task):
    """A task with one or two text columns and one label per example.

    Subclasses name the Hub dataset, the mirror folder, the columns, the splits that play each role
    and the metrics. When ``select_split`` is None, the selection rows are carved from train.
    Offline, it reads ``<data_dir>/<folder>/<split>.jsonl.gz`` (the Hub's column names).
    Classification scores accuracy and macro precision, recall and F1 (plus :meth:`extra_metrics`);
    regression (``regression = True``) Pearson and Spearman. The trivial baseline
    (:meth:`trivial_predictions`) is the training split's majority class, or its mean target.
    """

    hub_id: ClassVar[str]
    hub_config: ClassVar[str | None] = None
    folder: ClassVar[str]
    text_columns: ClassVar[tuple[str, ...]]
    label_column: ClassVar[str] = "label"
    default_labels: ClassVar[tuple[str, ...]]
    regression: ClassVar[bool] = False
    train_split: ClassVar[str] = "train"
    select_split: ClassVar[str | None] = None
    report_split: ClassVar[str] = "validation"
    #: training subsets, and per-class sizes for a classification (a regression has no classes:
    #: ``Task.sampling_problem`` refuses them by its head)
    training_draws: ClassVar[frozenset[str]] = frozenset({"subset", "per_class"})

    @property
    def head(self) -> HeadSpec:
        if self.regression:
            return HeadSpec("regression", 1)
        return HeadSpec("classification", len(self.default_labels))

    def required_files(self, data_dir: Path) -> list[Path]:
        splits = [self.train_split, self.select_split, self.report_split]
        return [mirror_file(data_dir, self.folder, s) for s in splits if s]

    def _load(self, data_dir: Path | None, split: str) -> tuple[Any, Any]:
        ranges = {} if self.regression else {self.label_column: len(self.default_labels)}
        ds, src = load_split(data_dir, self.folder, split, self.hub_id, self.hub_config,
                             required=(*self.text_columns, self.label_column), label_ranges=ranges)
        if len(ds) and min(ds[self.label_column]) == -1:
            raise ValueError(f"{self.name}: split {split!r} has hidden labels (-1); it cannot be scored")
        return ds, src

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        strat = None if self.regression else self.label_column
        train, train_src = self._load(data_dir, self.train_split)
        if self.select_split is None:
            train, select = carve(train, o.select_examples, o.split_seed, strat)
            select_src = train_src
        else:
            select, select_src = self._load(data_dir, self.select_split)
        report, report_src = self._load(data_dir, self.report_split)
        full_report = len(report)
        names = self.class_names(data_dir)
        # the training rows: a cap or a per-class size, drawn with the subset's seed (subset 0:
        # split_seed); the select and report rows keep split_seed, the same for every subset
        train = draw_train(train, o, strat, names, where=f"{self.name} ({self.train_split} split)")
        select = cap(select, o.max_eval_examples, o.split_seed, strat)
        report = cap(report, o.max_eval_examples, o.split_seed, strat)
        label = self.name if len(report) == full_report else f"{self.name}[{self.report_split}:{len(report)}]"
        return TaskData(splits={"train": train, "select": select, "report": report},
                        sources={"train": train_src, "select": select_src, "report": report_src},
                        label_names=names, label=label)

    def train_class_counts(self, data_dir: Path | None) -> dict[str, int] | None:
        """Training rows of each class once the selection rows are carved off (what a per-class size
        draws from), from the training split's label column alone, for validation; None for a
        regression or where the labels are not known without loading (the Hub)."""
        if self.regression:
            return None
        labels = self.train_labels(data_dir)
        if labels is None:
            return None
        names = self.class_names(data_dir)
        o = self.options
        carved = o.select_examples if self.select_split is None else None
        counts = carved_class_counts(labels, len(names), carved, o.split_seed)
        return None if counts is None else dict(zip(names, counts, strict=True))

    def train_labels(self, data_dir: Path | None) -> list[int] | None:
        """The training split's class ids, read from the mirror file's label column (None: no mirror)."""
        if data_dir is None:
            return None
        path = mirror_file(data_dir, self.folder, self.train_split)
        if not path.is_file():
            return None
        return [int(v) for v in mirror_labels(path, self.label_column)]

    def class_names(self, data_dir: Path | None) -> tuple[str, ...]:
        """The classes in label-id order: the mirror's labels.json, else :attr:`default_labels`."""
        if self.regression:
            return ()
        return label_names(data_dir, self.folder, self.label_column, self.default_labels)

    def encode(self, tokenizer: Any, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        cols = self.text_columns
        texts = batch[cols[0]] if len(cols) == 1 else (batch[cols[0]], batch[cols[1]])
        return encode_texts(tokenizer, texts, batch[self.label_column], self.options.max_length)

    def decode(self, outputs: Any, encoded: Any, split: Any) -> np.ndarray:
        out = np.asarray(outputs)
        return out[:, 0] if self.regression else out.argmax(-1)

    def class_scores(self, outputs: Any, encoded: Any, split: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Classification: the head's logits, one row per example (what :meth:`decode` takes the
        arg-max of), and the gold class ids, for the record's calibration. Regression: None."""
        if self.regression:
            return None
        return np.asarray(outputs, dtype=np.float64), np.asarray(self.references(split), dtype=np.int64)

    def references(self, split: Any) -> list[Any]:
        return list(split[self.label_column])

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """Classification: the training split's majority class for every row (a tie goes to the
        lowest label id). Regression: the training split's mean target for every row; a constant
        correlates with nothing, so Pearson and Spearman are undefined and :func:`correlations`
        scores them 0.0. Only the training labels are read; the report split gives its length."""
        labels = list(data.splits["train"][self.label_column])
        n_report = len(data.splits["report"])
        if not labels:
            raise ValueError(f"{self.name}: the training split is empty: no trivial baseline")
        if self.regression:
            mean = float(np.mean(np.asarray(labels, dtype=float)))
            method = (f"mean target {mean:.4g} of the training split ({len(labels)} rows): a constant, "
                      "whose Pearson and Spearman are undefined and scored 0.0")
            return method, np.full(n_report, mean, dtype=float)
        counts: dict[int, int] = {}
        for label in labels:
            counts[int(label)] = counts.get(int(label), 0) + 1
        top = max(counts.values())
        tied = sorted(k for k, c in counts.items() if c == top)
        names = data.label_names or self.default_labels

        def name(k: int) -> str:
            return repr(names[k]) if 0 <= k < len(names) else repr(str(k))

        tie = f", tied with {', '.join(name(k) for k in tied[1:])}" if len(tied) > 1 else ""
        return (f"majority class {name(tied[0])} of the training split ({top} of {len(labels)} rows{tie}; "
                "ties go to the lowest label id)"), np.full(n_report, tied[0], dtype=np.int64)

    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        refs = self.references(split)
        if self.regression:
            return correlations(predictions, refs)
        return {**classification_metrics(predictions, refs), **self.extra_metrics(predictions, refs)}

    def extra_metrics(self, predictions: np.ndarray, references: Sequence[int]) -> dict[str, float]:
        """Metrics a subclass adds to :func:`classification_metrics`' (e.g. Matthews correlation)."""
        return {}

    def item_stats(self, predictions: Any, split: Any) -> tuple[list[list[float]], str] | None:
        refs = np.asarray(self.references(split), dtype=float)
        pred = np.asarray(predictions, dtype=float)
        reducers = {"accuracy": "mean", "pearson": "pearson", "matthews": "mcc", "f1": "f1"}
        how = reducers.get(self.primary_metric)
        if how == "mean":
            return (pred == refs).astype(float)[:, None].tolist(), how
        if how in ("pearson", "mcc"):
            return np.stack([pred, refs], axis=1).tolist(), how
        if how == "f1":  # binary F1 of the positive class: per item (tp, fp, fn)
            p, g = pred == 1, refs == 1
            return np.stack([p & g, p & ~g, ~p & g], axis=1).astype(float).tolist(), how
        return None
