"""GLUE tasks (Wang et al., 2019). SST-2 for now; the others follow the same pattern.

Split roles: GLUE's test labels are hidden (-1), so the reported score is on the official
validation split, and hyperparameters are chosen on rows carved from train with a fixed seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tlbench import HeadSpec, Task, TaskData, hookimpl
from tlbench.data import cap, carve, load_split, mirror_file
from tlbench_builtin.classification import classification_metrics, encode_texts

HUB_ID = "nyu-mll/glue"


class GlueClassification(Task):
    """A GLUE classification task: ``text_columns`` of one or two sentences, integer labels."""

    config: ClassVar[str]
    text_columns: ClassVar[tuple[str, ...]]
    label_names: ClassVar[tuple[str, ...]]
    primary_metric: ClassVar[str] = "accuracy"

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", len(self.label_names))

    def required_files(self, data_dir: Path) -> list[Path]:
        return [mirror_file(data_dir, self.config, s) for s in ("train", "validation")]

    def load(self, data_dir: Path | None) -> TaskData:
        o = self.options
        train, train_src = load_split(data_dir, self.config, "train", HUB_ID, self.config)
        report, report_src = load_split(data_dir, self.config, "validation", HUB_ID, self.config)
        train, select = carve(train, o.select_size, o.split_seed)
        train = cap(train, o.train_size, o.split_seed)
        report = cap(report, o.report_size, o.split_seed)
        names = self.label_names
        if data_dir is not None and (data_dir / self.config / "labels.json").is_file():
            names = tuple(json.loads((data_dir / self.config / "labels.json").read_text())["label"])
        return TaskData(
            splits={"train": train, "select": select, "report": report},
            sources={"train": train_src, "select": train_src, "report": report_src},
            label_names=names,
        )

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        cols = self.text_columns
        texts = batch[cols[0]] if len(cols) == 1 else (batch[cols[0]], batch[cols[1]])
        return encode_texts(tokenizer, texts, batch["label"], self.options.max_length)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        return outputs.argmax(-1)

    def score(self, predictions: np.ndarray, split: Any) -> dict[str, float]:
        return classification_metrics(predictions, self.references(split))


class Sst2(GlueClassification):
    """Binary sentiment of movie-review phrases (train) and sentences (validation)."""

    description = "SST-2 binary sentiment (GLUE); accuracy"
    config = "sst2"
    text_columns = ("sentence",)
    label_names = ("negative", "positive")


@hookimpl
def register_tasks(register):  # noqa: ANN001, ANN201 - the hookspec documents the types
    register("sst2", Sst2)
