"""Tasks declared in a suite from one's own files (or a Hub dataset), no code: one task plugin per
head kind, ``kind = "<name>"`` in ``[tasks.<label>]``.

- ``classification`` (``text``, optional ``text_pair``, ``label``) and ``pair_classification``
  (``text_pair`` required): :class:`tlbench.TextTask`, as SST-2 and IMDb; accuracy, macro P/R/F1,
  Matthews correlation when asked (``mcc = true`` or ``primary_metric = "matthews"``).
- ``regression`` (``text``, optional ``text_pair``, ``label``): TextTask as STS-B; Pearson, Spearman.
- ``token_classification`` (``tokens``, ``tags``: lists, or whitespace-separated strings in CSV):
  CoNLL-2003's :class:`~tlbench_builtin.conll.TokenTagging`; seqeval entity F1 (IOB2 tags).
- ``extractive_qa`` (``question``, ``context`` and ``answers`` as SQuAD's {text, answer_start}, or
  ``answer`` with an optional ``answer_start``; optional ``id``, ``title``): SQuAD's
  :class:`~tlbench_builtin.squad.ExtractiveQA`; official exact match and F1 (0-100).

The selection split is carved from train (seeded; stratified by label for classification, by
title or paragraph for QA) unless ``select_split`` names one. Options: :mod:`tlbench_builtin.declared`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from tlbench import DataError, HeadSpec, Register, TaskData, TextTask, hookimpl
from tlbench.tabular import Sample
from tlbench_builtin.declared import Declared, DeclaredOptions, LazyHead, _column, label_ids
from tlbench_builtin.span_kinds import ExtractiveQa, TokenClassification

__all__ = ["Classification", "ExtractiveQa", "KINDS", "PairClassification", "Regression",
           "TokenClassification"]

CLASS_METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "matthews")
_INT = re.compile(r"^[+-]?\d+$")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class ClassificationOptions(DeclaredOptions):
    roles: ClassVar[dict[str, bool]] = {"text": True, "text_pair": False, "label": True}
    metrics: ClassVar[tuple[str, ...]] = CLASS_METRICS
    mcc: bool = Field(False, description="also report Matthews correlation")


class PairOptions(ClassificationOptions):
    roles: ClassVar[dict[str, bool]] = {"text": True, "text_pair": True, "label": True}


class RegressionOptions(DeclaredOptions):
    roles: ClassVar[dict[str, bool]] = {"text": True, "text_pair": False, "label": True}
    metrics: ClassVar[tuple[str, ...]] = ("pearson", "spearman")


class _Text(Declared, TextTask):
    """A declared TextTask: canonical columns ``text``, ``text_pair``, ``label``."""

    canonical: ClassVar[dict[str, str]] = {"text": "text", "text_pair": "text_pair", "label": "label"}
    text_like: ClassVar[tuple[str, ...]] = ("text", "text_pair")
    label_role: ClassVar[str | None] = "label"
    folder = ""
    hub_id = ""

    def __init__(self, name: str, options: Any):
        super().__init__(name, options)
        o = self.options
        self.primary_metric = o.primary_metric or self.metrics_default  # type: ignore[misc]
        self.train_split, self.select_split = o.train_split, o.select_split  # type: ignore[misc]
        self.report_split = o.report  # type: ignore[misc]
        pair = o.roles.get("text_pair") or "text_pair" in o.columns
        self.text_columns = ("text", "text_pair") if pair else ("text",)  # type: ignore[misc]

    metrics_default: ClassVar[str] = "accuracy"

    def _load(self, data_dir: Path | None, split: str) -> tuple[Any, Any]:
        return self.load_declared(split)

    def load(self, data_dir: Path | None) -> TaskData:
        data = super().load(data_dir)  # TextTask's: carving, caps, stratified by label
        n = len(data.splits["report"])
        return replace(data, label=self.data_label(n, capped=data.label != self.name))

    def sample_problems(self, split: str, sample: Sample) -> list[str]:
        out, column = [], self.options.column("label")
        for role in self.text_columns:
            col = self.options.column(role)
            bad = next((i for i, r in enumerate(sample.rows, 1) if r.get(col) is None), None)
            if bad is not None:
                out.append(f"{sample.path}, row {bad}: no {role} (column {col!r} is empty)")
        values = [r.get(column) for r in sample.rows]
        empty = next((i for i, v in enumerate(values, 1) if _empty(v)), None)
        if values and empty is not None:
            out.append(f"{sample.path}, row {empty}: the label column {column!r} is empty")
        return out + self.label_type_problems(sample, column, values)

    def label_type_problems(self, sample: Sample, column: str, values: list[Any]) -> list[str]:
        return []


class Classification(_Text):
    description = "your own single-text (or text-pair) classification from files; accuracy, macro P/R/F1"
    Options = ClassificationOptions
    secondary_metrics: ClassVar[tuple[str, ...]] = ("macro_f1",)

    @property
    def head(self) -> HeadSpec:
        return LazyHead("classification", lambda: len(self.label_names()))

    def class_names(self, data_dir: Path | None) -> tuple[str, ...]:
        return self.label_names()

    def train_labels(self, data_dir: Path | None) -> list[int] | None:
        """The training files' label column as class ids (read once, cached); None for the Hub."""
        o = self.options
        if o.hub is not None:
            return None
        paths = tuple(self.files(o.train_split))
        stamps = tuple((p.stat().st_size, p.stat().st_mtime) for p in paths)
        values = _column(paths, stamps, o.column("label"))
        return label_ids(list(values), self.label_names(), ", ".join(map(str, paths)))

    def normalize(self, ds: Any, where: str) -> Any:
        ids = label_ids(ds["label"], self.label_names(), where)
        return ds.remove_columns("label").add_column("label", ids)

    def extra_metrics(self, predictions: Any, references: Any) -> dict[str, float]:
        if not (self.options.mcc or self.primary_metric == "matthews"):
            return {}
        from sklearn.metrics import matthews_corrcoef

        return {"matthews": float(matthews_corrcoef(references, predictions))}

    def label_type_problems(self, sample: Sample, column: str, values: list[Any]) -> list[str]:
        present = [v for v in values if not _empty(v)]
        if not values:
            return []
        if not present:
            return [f"{sample.path}: the label column {column!r} is empty"]
        if sample.text:
            kinds = {"integer" if _INT.match(str(v).strip()) else "string" for v in present}
        else:
            kinds = {"integer" if isinstance(v, int) and not isinstance(v, bool) else
                     "string" if isinstance(v, str) else type(v).__name__ for v in present}
        odd = kinds - {"integer", "string"}
        if odd:
            return [f"{sample.path}: labels in column {column!r} must be strings or integers, "
                    f"found {', '.join(sorted(odd))}"]
        if len(kinds) > 1:
            first = {k: next(i for i, v in enumerate(values, 1) if not _empty(v) and (
                _INT.match(str(v).strip()) if k == "integer" else not _INT.match(str(v).strip())))
                for k in kinds} if sample.text else {}
            rows = f" (e.g. rows {first['integer']} and {first['string']})" if first else ""
            return [f"{sample.path}: the label column {column!r} mixes integers and strings{rows}"]
        listed = self.options.labels
        if listed is not None:
            unknown = sorted({str(v) for v in present} - {str(v) for v in listed})
            if unknown:
                return [f"{sample.path}: labels {', '.join(unknown)} are not among labels = {listed}"]
        return []


class PairClassification(Classification):
    description = "your own text-pair classification from files (text and text_pair); accuracy, macro P/R/F1"
    Options = PairOptions


class Regression(_Text):
    description = "your own text (or pair) regression from files; Pearson and Spearman"
    Options = RegressionOptions
    regression = True
    metrics_default = "pearson"
    secondary_metrics: ClassVar[tuple[str, ...]] = ("spearman",)
    label_role: ClassVar[str | None] = None

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("regression", 1)

    def normalize(self, ds: Any, where: str) -> Any:
        values = []
        for row, v in enumerate(ds["label"], 1):
            try:
                values.append(float(v))
            except (TypeError, ValueError):
                raise DataError(f"{where}, row {row}: regression target {v!r} is not a number") from None
        return ds.remove_columns("label").add_column("label", values)

    def label_type_problems(self, sample: Sample, column: str, values: list[Any]) -> list[str]:
        for row, v in enumerate(values, 1):
            try:
                float(v) if not isinstance(v, bool) else float("x")
            except (TypeError, ValueError):
                return [f"{sample.path}, row {row}: regression target {v!r} in column {column!r} "
                        "is not a number"]
        return []


KINDS: dict[str, type] = {"classification": Classification, "pair_classification": PairClassification,
                          "regression": Regression, "token_classification": TokenClassification,
                          "extractive_qa": ExtractiveQa}


@hookimpl
def register_tasks(register: Register) -> None:
    for name, cls in KINDS.items():
        register(name, cls)
