"""The declared kinds whose labels are spans: ``token_classification`` (``tokens`` and ``tags``,
lists or whitespace-separated strings; seqeval entity F1 from IOB2 tags) on CoNLL-2003's
:class:`~tlbench_builtin.conll.TokenTagging`, and ``extractive_qa`` (``question``, ``context``, and
SQuAD's ``answers`` or one ``answer`` with an optional ``answer_start``; optional ``id`` and
``title``) on SQuAD's :class:`~tlbench_builtin.squad.ExtractiveQA`. Registered by
:mod:`tlbench_builtin.kinds`; not a plugin itself.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from tlbench import DataError, HeadSpec, TaskData, carve
from tlbench.tabular import Sample
from tlbench_builtin.conll import TokenTagging
from tlbench_builtin.declared import Declared, DeclaredOptions, LazyHead
from tlbench_builtin.squad import ExtractiveQA, SquadOptions, carve_articles

__all__ = ["ExtractiveQa", "QaOptions", "TokenClassification", "TokenOptions"]

_IOB2 = re.compile(r"^(O|[BI]-.+)$")


def _carved(task: Any, train: Any, src: Any, stratify: str | None) -> tuple[Any, Any, Any, Any]:
    o = task.options
    if o.select_split is not None:
        return (train, src, *task.load_declared(o.select_split))
    train, select = carve(train, o.select_examples, o.split_seed, stratify)
    return train, src, select, replace(src, description=f"{src.description}: {len(select)} rows carved "
                                       f"from {o.train_split} (seed {o.split_seed})")


class TokenOptions(DeclaredOptions):
    roles: ClassVar[dict[str, bool]] = {"tokens": True, "tags": True}
    metrics: ClassVar[tuple[str, ...]] = ("f1", "precision", "recall", "accuracy")


class TokenClassification(Declared, TokenTagging):
    description = "your own token classification (IOB2 tags) from files; seqeval entity F1"
    Options = TokenOptions
    canonical: ClassVar[dict[str, str]] = {"tokens": "tokens", "tags": "tags"}
    tags_column: ClassVar[str] = "tags"
    label_role: ClassVar[str | None] = "tags"

    def __init__(self, name: str, options: Any):
        super().__init__(name, options)
        self.primary_metric = options.primary_metric or "f1"  # type: ignore[misc]

    @property
    def head(self) -> HeadSpec:
        return LazyHead("token_classification", lambda: len(self.label_names()))

    def flatten(self, values: list[Any]) -> list[Any]:
        return [t for v in values for t in (v.split() if isinstance(v, str) else v or [])]

    def normalize(self, ds: Any, where: str) -> Any:
        import datasets

        names = self.label_names()
        index = {n: i for i, n in enumerate(names)}
        tokens, tags = [], []
        for row, (words, marks) in enumerate(zip(ds["tokens"], ds["tags"], strict=True), 1):
            words = words.split() if isinstance(words, str) else list(words)
            marks = marks.split() if isinstance(marks, str) else list(marks)
            if len(words) != len(marks):
                raise DataError(f"{where}, row {row}: {len(words)} tokens but {len(marks)} tags")
            unknown = [m for m in marks if str(m) not in index]
            if unknown:
                raise DataError(f"{where}, row {row}: tag {unknown[0]!r} is not one of {', '.join(names)}")
            tokens.append([str(w) for w in words])
            tags.append([index[str(m)] for m in marks])
        features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                      "tags": datasets.Sequence(datasets.ClassLabel(names=list(names)))})
        return datasets.Dataset.from_dict({"tokens": tokens, "tags": tags}, features=features)

    def sample_problems(self, split: str, sample: Sample) -> list[str]:
        o = self.options
        for row, r in enumerate(sample.rows, 1):
            words, marks = (self.flatten([r.get(o.column(c))]) for c in ("tokens", "tags"))
            if len(words) != len(marks):
                return [f"{sample.path}, row {row}: {len(words)} tokens but {len(marks)} tags"]
            bad = next((m for m in marks if not _IOB2.match(str(m))), None)
            if bad is not None and o.labels is None:
                return [f"{sample.path}, row {row}: tag {bad!r} is not IOB2 (O, B-<type>, I-<type>): "
                        "seqeval scores entities from IOB2 tags"]
        return []

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        train, src = self.load_declared(o.train_split)
        train, train_src, select, select_src = _carved(self, train, src, None)
        return self.capped({"train": (train, train_src), "select": (select, select_src),
                            "report": self.load_declared(o.report)}, self.label_names())


class QaOptions(DeclaredOptions, SquadOptions):
    roles: ClassVar[dict[str, bool]] = {"question": True, "context": True, "answers": False, "answer": False,
                                        "answer_start": False, "id": False, "title": False}
    metrics: ClassVar[tuple[str, ...]] = ("f1", "exact_match")
    max_length: int = Field(256, gt=1, le=8192, description="tokens per window (question + context part)")

    @model_validator(mode="after")
    def _answers(self) -> QaOptions:
        if "answer_start" in self.columns and "answer" not in self.columns:
            raise ValueError("columns: answer_start needs answer (the answer's text column)")
        return self


class ExtractiveQa(Declared, ExtractiveQA):
    description = "your own extractive QA (question, context, answer spans) from files; SQuAD F1 and EM"
    Options = QaOptions
    canonical: ClassVar[dict[str, str]] = {r: r for r in QaOptions.roles}
    text_like: ClassVar[tuple[str, ...]] = ("question", "context", "answer", "id", "title")

    def __init__(self, name: str, options: Any):
        super().__init__(name, options)
        self.primary_metric = options.primary_metric or "f1"  # type: ignore[misc]

    def required_roles(self) -> list[str]:
        extra = [] if "answer" in self.options.columns else ["answers"]
        return list(dict.fromkeys([*super().required_roles(), *extra]))

    def sample_problems(self, split: str, sample: Sample) -> list[str]:
        """Each sampled answer is a span of its context (at ``answer_start`` when given)."""
        o = self.options
        for row, r in enumerate(sample.rows, 1):
            context = str(r.get(o.column("context")) or "")
            if "answer" in o.columns:
                texts = [str(r.get(o.column("answer")) or "")]
                starts = [r.get(o.column("answer_start"))] if "answer_start" in o.columns else [None]
            else:
                answers = r.get(o.column("answers"))
                if not isinstance(answers, dict) or not {"text", "answer_start"} <= set(answers):
                    return [f"{sample.path}, row {row}: answers must be {{text: [...], answer_start: "
                            f"[...]}} (SQuAD's), got {answers!r}"[:300]]
                texts, starts = [str(t) for t in answers["text"]], list(answers["answer_start"])
            for text, start in zip(texts, starts, strict=False):
                if start not in (None, "") and not str(start).strip().lstrip("-").isdigit():
                    return [f"{sample.path}, row {row}: answer_start {start!r} is not an integer"]
                at = context.find(text) if start in (None, "") else int(start)
                if at < 0 or context[at:at + len(text)] != text:
                    return [f"{sample.path}, row {row}: answer {text!r} is not in its context"
                            + (f" at {start}" if start not in (None, "") else "")]
        return []

    def normalize(self, ds: Any, where: str) -> Any:
        import datasets

        cols = ds.column_names
        out: dict[str, list[Any]] = {"id": [], "title": [], "context": [], "question": [], "answers": []}
        for row in range(len(ds)):
            item = ds[row]
            context = str(item["context"])
            if "answers" in cols:
                answers = item["answers"]
                texts, starts = list(answers["text"]), [int(s) for s in answers["answer_start"]]
            else:
                text = str(item["answer"])
                start = int(item["answer_start"]) if "answer_start" in cols else context.find(text)
                texts, starts = [text], [start]
            for text, start in zip(texts, starts, strict=True):
                if start < 0 or context[start:start + len(text)] != text:
                    raise DataError(f"{where}, row {row + 1}: answer {text!r} is not in the context "
                                    + (f"at {start}" if start >= 0 else "(not found)"))
            out["id"].append(str(item["id"]) if "id" in cols else f"{where}#{row + 1}")
            out["title"].append(str(item["title"]) if "title" in cols else "")
            out["context"].append(context)
            out["question"].append(str(item["question"]))
            out["answers"].append({"text": texts, "answer_start": starts})
        return datasets.Dataset.from_dict(out)

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        train, train_src = self.load_declared(o.train_split)
        if o.select_split is not None:
            select, select_src = self.load_declared(o.select_split)
        else:
            # whole titles, else whole paragraphs: no paragraph is both trained and chosen on
            titled = "title" in o.columns
            by = train.add_column("_row", list(range(len(train))))
            by = by if titled else by.remove_columns("title").add_column("title", by["context"])
            rest, held, k, n = carve_articles(by, o.select_examples, o.split_seed)
            train, select = train.select(rest["_row"]), train.select(held["_row"])
            unit = "titles" if titled else "paragraphs"
            select_src = replace(train_src, description=f"{train_src.description}: {len(select)} questions "
                                 f"of {k} of {n} {unit} carved (seed {o.split_seed})")
        return self.capped({"train": (train, train_src), "select": (select, select_src),
                            "report": self.load_declared(o.report)})
