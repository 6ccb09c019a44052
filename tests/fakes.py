"""Pure-Python fakes: a strategy and a task that need neither torch nor data files."""

from __future__ import annotations

import math
import time
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
from tlbench.space import Float


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


class SleepyOptions(StrategyOptions):
    lr: float = Field(1e-3, gt=0, le=1.0)
    sleep: float = Field(0.0, ge=0, description="seconds of pretend training")
    steps: int = Field(3, ge=1, description="intermediate evaluations reported")
    fail_above: float | None = Field(None, description="raise when lr is above this")


class SleepyFitted(FakeFitted):
    """Deterministic predictions: on ``select`` the share right grows as lr nears 1e-2 (something to
    tune); on ``report`` it grows with the same quality and with the seed (``0.1 * (seed % 4)``), so
    a rerun that dropped the tuned options (or changed the seed) scores differently."""

    def __init__(self, job: Job, quality: float):
        super().__init__(0, job.data.sizes())
        self.job, self.quality = job, quality

    def predict(self, role: Any) -> np.ndarray:
        labels = np.asarray(self.job.data.splits[role]["label"], dtype=int)
        share = self.quality if role == "select" else 0.1 + 0.6 * self.quality + 0.1 * (self.job.seed % 4)
        right = np.arange(len(labels)) < round(share * len(labels))
        pred = np.where(right, labels, 1 - labels)
        return np.eye(2, dtype=np.float32)[pred]


class SleepyStrategy(Strategy):
    """A fake that takes ``sleep`` seconds, reports ``steps`` selection scores and has a search space."""

    Options = SleepyOptions
    search_space = {"lr": Float(1e-4, 1.0, log=True)}

    def fit(self, job: Job) -> Fitted:
        o = self.options
        if o.fail_above is not None and o.lr > o.fail_above:
            raise RuntimeError(f"lr {o.lr:g} is above {o.fail_above:g}")
        quality = self._quality()
        for step in range(1, o.steps + 1):
            time.sleep(o.sleep / o.steps)
            job.report(step, quality * step / o.steps)
        return SleepyFitted(job, quality)

    def _quality(self) -> float:
        return max(0.0, 1.0 - abs(math.log10(self.options.lr) + 2.0) / 3.0)

    def load(self, job: Job, directory: Path) -> Fitted:
        return SleepyFitted(job, self._quality())


class FakeTaskOptions(TaskOptions):
    rows: int = Field(20, gt=0)
    broken: bool = Field(False, description="loading the data fails")


class FakeTask(Task):
    Options = FakeTaskOptions
    primary_metric = "accuracy"
    #: per-class sizes and training subsets (``tlbench.data.draw_train``), for the low-resource tests
    training_draws = frozenset({"per_class", "subset"})

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", 2)

    def required_files(self, data_dir: Path) -> list[Path]:
        return []

    def load(self, data_dir: Path | None) -> TaskData:
        from datasets import Dataset

        if self.options.broken:
            raise ValueError("the fake data file is corrupt")
        splits = {r: Dataset.from_dict({"label": [int(i % 3 == 0) for i in range(self.options.rows)]})
                  for r in ("train", "select", "report")}
        o = self.options
        if o.train_per_class is not None or o.train_subset:  # (a plain cap is ignored, as it always was)
            from tlbench.data import draw_train

            splits["train"] = draw_train(splits["train"], o, "label", ("no", "yes"), where=self.name)
        return TaskData(splits=splits, sources={r: DataSource("memory://fake") for r in splits})  # type: ignore[arg-type]

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"input_ids": [[1, 2]] * len(batch["label"]), "labels": batch["label"]}

    def decode(self, outputs: Any, encoded: Any, split: Any) -> np.ndarray:
        return outputs.argmax(-1)

    def score(self, predictions: np.ndarray, split: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(predictions == np.asarray(split["label"], dtype=int)))}


@hookimpl
def register_strategies(register):
    register("fake_strategy", FakeStrategy)
    register("sleepy", SleepyStrategy)


@hookimpl
def register_tasks(register):
    register("fake_task", FakeTask)


#: a suite of ``sleepy`` on ``fake_task`` (format it with model, trials, pruner and extra: options of
#: ``sleepy``); the tuning, worker and CLI tests share it
SLEEPY_SUITE = """
models = ["{model}"]
seeds = [0, 1]
heartbeat_seconds = 1

[tuning]
budget = {{ trials = {trials} }}
pruner = "{pruner}"

[tasks.fake_task]
rows = 20

[strategies.sleepy]
{extra}
"""
