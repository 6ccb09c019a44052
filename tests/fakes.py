"""Pure-Python fakes: a strategy and a task that need neither torch nor data files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from tlbench import (
    DataSource,
    Fitted,
    HeadSpec,
    Job,
    Strategy,
    StrategyOptions,
    Task,
    TaskData,
    TaskOptions,
    hookimpl,
)


class FakeOptions(StrategyOptions):
    lr: float = Field(1e-3, gt=0)
    epochs: int = Field(1, ge=1)
    mode: Literal["majority", "constant"] = "majority"


class FakeFitted(Fitted):
    def __init__(self, label: int, rows: dict[str, int]):
        self.label, self.rows = label, rows

    def predict(self, role: Any) -> np.ndarray:
        out = np.zeros((self.rows[role], 2), dtype=np.float32)
        out[:, self.label] = 1.0
        return out

    def parameter_counts(self) -> tuple[int, int]:
        return 2, 100

    def save(self, directory: Path) -> None:
        (directory / "label.txt").write_text(str(self.label))


class FakeStrategy(Strategy):
    Options = FakeOptions

    def fit(self, job: Job) -> Fitted:
        labels = list(job.data.splits["train"]["label"])
        label = max(set(labels), key=labels.count) if self.options.mode == "majority" else 0
        return FakeFitted(label, job.data.sizes())

    def load(self, job: Job, directory: Path) -> Fitted:
        return FakeFitted(int((directory / "label.txt").read_text()), job.data.sizes())


class FakeTaskOptions(TaskOptions):
    rows: int = Field(20, gt=0)


class FakeTask(Task):
    Options = FakeTaskOptions
    primary_metric = "accuracy"

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", 2)

    def required_files(self, data_dir: Path) -> list[Path]:
        return []

    def load(self, data_dir: Path | None) -> TaskData:
        splits = {r: {"label": [i % 3 == 0 for i in range(self.options.rows)]} for r in
                  ("train", "select", "report")}
        return TaskData(splits=splits, sources={r: DataSource("memory://fake") for r in splits})  # type: ignore[arg-type]

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"input_ids": [[1, 2]] * len(batch["label"]), "labels": batch["label"]}

    def decode(self, outputs: Any, encoded: Any, split: Any) -> np.ndarray:
        return outputs.argmax(-1)

    def score(self, predictions: np.ndarray, split: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(predictions == np.asarray(split["label"], dtype=int)))}


@hookimpl
def register_strategies(register):  # noqa: ANN001, ANN201
    register("fake_strategy", FakeStrategy)


@hookimpl
def register_tasks(register):  # noqa: ANN001, ANN201
    register("fake_task", FakeTask)
