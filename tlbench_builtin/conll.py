"""CoNLL-2003 English named entities (Tjong Kim Sang and De Meulder, 2003), ``eriktks/conll2003``.

One Reuters sentence per row, already split into words, with IOB2 tags for PER, ORG, LOC and MISC.
Split roles: hyperparameters are chosen on the official validation split (eng.testa) and the score
is reported on test (eng.testb), as in the literature.

Words are tokenized into sub-tokens; the first sub-token of each word carries the word's tag and
the others (and the special tokens) are ignored by the loss. Predictions are read back the same way,
one tag per word of the original sentence: a word cut off by ``max_length`` is predicted ``O`` (so
truncation costs recall, and each record says how many sentences lost words).

Metrics are seqeval's: entity-level micro precision, recall and F1 in its default mode, which counts
entities as conlleval does (an entity is right only when its type and both its ends are), plus
token accuracy and the F1 of each entity type. Undefined ratios (nothing predicted) are 0.0.

The trivial baseline (``trivial_predictions``) tags every word ``O``: entity F1 0.0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tlbench import DataError, HeadSpec, Task, TaskData, cap, hookimpl, label_names, load_split, mirror_file

#: the Hub's ClassLabel order of ``ner_tags`` (the same as the mirror's labels.json)
DEFAULT_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
OUTSIDE = "O"


def align_labels(word_ids: Sequence[int | None], tags: Sequence[int]) -> list[int]:
    """Per token: the word's tag id on its first sub-token, -100 (ignored) everywhere else."""
    from tlbench.engine.heads import IGNORE

    labels, previous = [], None
    for w in word_ids:
        labels.append(IGNORE if w is None or w == previous else int(tags[w]))
        if w is not None:
            previous = w
    return labels


def words_from_tokens(logits: np.ndarray, word_ids: Sequence[int], n_words: int,
                      tags: Sequence[str]) -> list[str]:
    """One tag per word: the argmax at the word's first sub-token; ``O`` for words with no token
    (cut off by truncation)."""
    if len(logits) != len(word_ids):
        raise ValueError(f"{len(logits)} token outputs for a row of {len(word_ids)} tokens")
    best = np.asarray(logits).argmax(-1)
    out = [OUTSIDE] * n_words
    seen: set[int] = set()
    for t, w in enumerate(word_ids):
        if w >= 0 and w not in seen:
            seen.add(w)
            out[w] = tags[int(best[t])]
    return out


def entity_metrics(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                   types: Sequence[str] = ENTITY_TYPES) -> dict[str, float]:
    """seqeval's entity-level micro precision, recall and F1 (default, conlleval-like mode), token
    accuracy, and ``f1_<TYPE>`` for each entity type of ``types`` (default: CoNLL's). Ratios with a
    zero denominator are 0.0."""
    from seqeval.metrics import accuracy_score, classification_report
    from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

    refs, preds = [list(r) for r in references], [list(p) for p in predictions]
    if len(refs) != len(preds):
        raise ValueError(f"{len(preds)} predicted sentences for {len(refs)} references")
    for i, (r, p) in enumerate(zip(refs, preds, strict=True)):
        if len(r) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(r)} words")
    p, r, f, _ = precision_recall_fscore_support(refs, preds, average="micro", zero_division=0)
    metrics = {"f1": float(f), "precision": float(p), "recall": float(r),
               "accuracy": float(accuracy_score(refs, preds)) if any(refs) else 0.0}
    report: dict[str, Any] = {}
    if get_entities(refs) or get_entities(preds):  # with no entity at all seqeval averages nothing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            report = classification_report(refs, preds, output_dict=True, zero_division=0)
    for kind in types:
        metrics[f"f1_{kind}"] = float(report.get(kind, {}).get("f1-score", 0.0))
    return metrics


def tag_names(split: Any, column: str = "ner_tags") -> tuple[str, ...]:
    """The tag names a split's tag ids stand for (its ClassLabel), else CoNLL-2003's Hub order."""
    feature = (getattr(split, "features", None) or {}).get(column)
    names = getattr(getattr(feature, "feature", None), "names", None)
    return tuple(names) if names else DEFAULT_TAGS


def entity_types(tags: Sequence[str]) -> tuple[str, ...]:
    """The entity types IOB2 tags name, in the order of their first tag (``B-PER`` -> ``PER``)."""
    return tuple(dict.fromkeys(t[2:] for t in tags if t != OUTSIDE and len(t) > 2))


class TokenTagging(Task):
    """Token classification: a column of words and a column of tag ids, the split's ClassLabel
    sequence naming the (IOB2) tags; the metrics are seqeval's. The base of CoNLL-2003 and of the
    declared ``token_classification`` kind: a subclass loads the data and gives the head."""

    words_column: ClassVar[str] = "tokens"
    tags_column: ClassVar[str] = "ner_tags"
    primary_metric = "f1"
    secondary_metrics: ClassVar[tuple[str, ...]] = ("precision", "recall")
    #: training subsets (the cap drawn with ``train_seed``); no per-class sizes: labels are per token
    training_draws: ClassVar[frozenset[str]] = frozenset({"subset"})

    def types(self, split: Any) -> tuple[str, ...]:
        """The entity types scored one by one (``f1_<TYPE>``)."""
        return entity_types(tag_names(split, self.tags_column))

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Sub-token ids cut at ``max_length``, labels on each word's first sub-token, each token's
        word index (-1 for special tokens), the untruncated token count and whether words were lost."""
        words, tags = batch[self.words_column], batch[self.tags_column]
        full = tokenizer(words, is_split_into_words=True, truncation=False)
        cut = tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.options.max_length)
        out: dict[str, list[Any]] = {"input_ids": cut["input_ids"], "labels": [], "word_ids": [],
                                     "n_tokens": [len(x) for x in full["input_ids"]], "truncated": []}
        for i, row_tags in enumerate(tags):
            wids = cut.word_ids(i)
            out["labels"].append(align_labels(wids, row_tags))
            out["word_ids"].append([-1 if w is None else w for w in wids])
            out["truncated"].append(bool(set(full.word_ids(i)) - set(wids)))
        return out

    def decode(self, outputs: Any, encoded: Any, split: Any) -> list[list[str]]:
        tags = tag_names(split, self.tags_column)
        words = split[self.words_column]
        if len(outputs) != len(words):
            raise ValueError(f"{len(outputs)} output rows for {len(words)} sentences")
        return [words_from_tokens(logits, wids, len(ws), tags)
                for logits, wids, ws in zip(outputs, encoded["word_ids"], words, strict=True)]

    def references(self, split: Any) -> list[list[str]]:
        tags = tag_names(split, self.tags_column)
        return [[tags[t] for t in row] for row in split[self.tags_column]]

    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        return entity_metrics(self.references(split), predictions, self.types(split))

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """Every word tagged ``O``, in :meth:`decode`'s form (one tag per word of each report
        sentence): no entity is predicted, so entity precision, recall and F1 are 0.0, and token
        accuracy is the share of ``O`` words."""
        words = data.splits["report"][self.words_column]
        return ("every word tagged 'O' (no entity predicted: entity F1 0; token accuracy is the share "
                "of 'O' words)"), [[OUTSIDE] * len(ws) for ws in words]

    def item_stats(self, predictions: Any, split: Any) -> tuple[list[list[float]], str] | None:
        """Per sentence (true positive, false positive, false negative) entities: summed over any
        sample of sentences they give seqeval's micro F1 on that sample exactly."""
        from seqeval.metrics.sequence_labeling import get_entities

        rows = []
        for ref, pred in zip(self.references(split), predictions, strict=True):
            gold, found = set(get_entities(list(ref))), set(get_entities(list(pred)))
            rows.append([len(gold & found), len(found - gold), len(gold - found)])
        return rows, "f1"


class Conll2003(TokenTagging):
    description = "CoNLL-2003 English NER (PER, ORG, LOC, MISC); entity-level F1 (seqeval), reported on test"
    hub_id: ClassVar[str] = "eriktks/conll2003"
    #: the Hub repository holds a loading script, which datasets 4+ no longer runs; its Parquet
    #: export (the same rows and ClassLabel features) loads without it
    hub_revision: ClassVar[str | None] = "refs/convert/parquet"
    folder: ClassVar[str] = "conll2003"
    source_datasets: ClassVar[tuple[str, ...]] = ("conll2003", "conll-2003")
    split_names: ClassVar[dict[str, str]] = {"train": "train", "select": "validation", "report": "test"}

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("token_classification", len(DEFAULT_TAGS))

    def required_files(self, data_dir: Path) -> list[Path]:
        return [mirror_file(data_dir, self.folder, s) for s in self.split_names.values()]

    def _tags(self, data_dir: Path | None) -> tuple[str, ...]:
        tags = label_names(data_dir, self.folder, self.tags_column, DEFAULT_TAGS)
        if sorted(tags) != sorted(DEFAULT_TAGS):
            path = Path(data_dir or "") / self.folder / "labels.json"
            raise DataError(f"{path}: {self.tags_column} must name the 9 IOB2 tags {', '.join(DEFAULT_TAGS)} "
                            f"(in any order), not {list(tags)}")
        return tags

    def _load(self, data_dir: Path | None, split: str, tags: tuple[str, ...]) -> tuple[Any, Any]:
        import datasets

        ds, src = load_split(data_dir, self.folder, split, self.hub_id,
                             revision=None if data_dir is not None else self.hub_revision,
                             required=(self.words_column, self.tags_column),
                             label_ranges={self.tags_column: len(tags)} if data_dir is not None else None)
        if data_dir is not None:  # the mirror holds plain ids: name them as the Hub's ClassLabel does
            ds = ds.cast_column(self.tags_column, datasets.Sequence(datasets.ClassLabel(names=list(tags))))
        return ds, src

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        tags = self._tags(data_dir)
        loaded = {role: self._load(data_dir, split, tags) for role, split in self.split_names.items()}
        full_report = len(loaded["report"][0])
        sizes = {"train": o.max_train_examples, "select": o.max_eval_examples, "report": o.max_eval_examples}
        # the training rows with the subset's seed (subset 0: split_seed); select and report split_seed's
        splits = {role: cap(ds, sizes[role], o.train_seed if role == "train" else o.split_seed)
                  for role, (ds, _) in loaded.items()}
        n = len(splits["report"])
        label = self.name if n == full_report else f"{self.name}[{self.split_names['report']}:{n}]"
        return TaskData(splits=splits, sources={role: src for role, (_, src) in loaded.items()},  # type: ignore[arg-type]
                        label_names=tag_names(splits["train"], self.tags_column), label=label)

    def types(self, split: Any) -> tuple[str, ...]:
        return ENTITY_TYPES

    # no item_clusters: the Hub's and the mirror's conll2003 drop the -DOCSTART- document boundaries,
    # so the sentences of one document cannot be told apart and are resampled independently


@hookimpl
def register_tasks(register):  # the hookspec documents the types
    register("conll2003", Conll2003)
