"""The options of a declared task (``kind = ...`` in a suite): where its data is (files or a Hub
dataset), the column mapping, the labels, the split roles and the primary metric, checked before
anything is read. Each kind's subclass sets its column roles and the metrics it offers
(:mod:`tlbench_builtin.kinds`, :mod:`tlbench_builtin.span_kinds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from tlbench import DESCRIPTIVE, TaskOptions, did_you_mean
from tlbench.tabular import file_format

__all__ = ["DeclaredOptions"]


class DeclaredOptions(TaskOptions):
    """Where a declared task's data is and how to read it. Each kind's subclass sets the column
    roles (:attr:`roles`: role -> required) and the metrics it offers (:attr:`metrics`)."""

    roles: ClassVar[dict[str, bool]] = {}
    metrics: ClassVar[tuple[str, ...]] = ()

    data_files: dict[str, str | list[str]] | None = Field(
        None, description="split name -> file, glob or list of them (relative to the suite file)")
    hub: str | None = Field(None, description="a Hugging Face dataset id instead of files")
    config: str | None = Field(None, description="the Hub dataset's configuration")
    revision: str | None = Field(None, description="the Hub dataset's pinned revision (a commit)")
    columns: dict[str, str] = Field(default_factory=dict, description="role -> the file's column")
    labels: list[str | int] | None = Field(
        None, description="the label values in class-id order [default: sorted, from the training split]")
    train_split: str = Field("train", description="the split trained on")
    select_split: str | None = Field(None, description="the split chosen on [default: carved from train]")
    report_split: str | None = Field(None, description="the split reported [default: the only other split]")
    primary_metric: str | None = Field(None, description="the metric tuning and the leaderboard use")
    source_datasets: list[str] = Field(
        default_factory=list, json_schema_extra=DESCRIPTIVE,
        description="where the data comes from, as a model's training data would name it (e.g. "
                    "[\"sst2\", \"stanford sentiment treebank\"]): the leaderboard notes the task when a "
                    "model was trained on one of them; not part of ids")
    _suite_dir: Path | None = PrivateAttr(None)
    _label: str = PrivateAttr("")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> DeclaredOptions:
        if (self.data_files is None) == (self.hub is None):
            raise ValueError("give data_files (local files) or hub (a Hugging Face dataset), exactly one")
        if self.hub is not None and not self.revision:
            raise ValueError(f"hub = {self.hub!r} needs a pinned revision (revision = \"<commit sha>\")")
        bad = sorted(set(self.columns) - set(self.roles))
        if bad:
            close = did_you_mean(bad[0], self.roles)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"columns: unknown role {bad[0]!r}.{hint} "
                             f"Roles of this kind: {', '.join(self.roles)}")
        import re

        nameless = [s for s in self.source_datasets if not re.search(r"[A-Za-z0-9]", s)]
        if nameless:
            raise ValueError(f"source_datasets: {nameless[0]!r} has no letters or digits to match "
                             "a training dataset's name with")
        if self.primary_metric is not None and self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not offered by this kind; "
                             f"choose one of {', '.join(self.metrics)}")
        splits = list(self.data_files or {})
        if self.data_files is not None:
            if self.train_split not in splits:
                raise ValueError(f"no training split: data_files names {', '.join(splits) or 'nothing'}, "
                                 f"not {self.train_split!r} (set train_split to the one to train on)")
            for role in ("select_split", "report_split"):
                split = getattr(self, role)
                if split is not None and split not in splits:
                    raise ValueError(f"{role} {split!r} is not a split of data_files ({', '.join(splits)})")
            for split, files in self.data_files.items():
                for pattern in [files] if isinstance(files, str) else files:
                    if file_format(pattern) is None:
                        raise ValueError(f"data_files.{split}: {pattern!r}: unknown format; name files "
                                         ".csv, .tsv, .json, .jsonl or .parquet (optionally .gz)")
        if self.report_split is None:
            others = [s for s in splits if s not in (self.train_split, self.select_split)]
            if len(others) != 1:
                raise ValueError(f"say which split is reported: report_split = one of {', '.join(others)}"
                                 if others else "give a split to report on besides train (in data_files, "
                                 "e.g. test = \"...\", or report_split for a Hub dataset)")
        context = info.context or {}
        if context.get("suite_dir") is not None:
            self._suite_dir = Path(context["suite_dir"])
        self._label = str(context.get("label") or "")
        return self

    @property
    def report(self) -> str:
        if self.report_split is not None:
            return self.report_split
        return next(s for s in self.data_files or {} if s not in (self.train_split, self.select_split))

    def column(self, role: str) -> str:
        """The file's column playing ``role`` (the role's own name unless mapped)."""
        return self.columns.get(role, role)
