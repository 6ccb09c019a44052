"""``multitask``: one pretrained encoder trained on several tasks at once, a head per task.

The strategy declares its group through ``Strategy.task_group`` (all the suite's tasks, or
``tasks = [...]``); the runner then trains once per group and seed (``fit_group``) and every task
of the group still gets its own cell, record and leaderboard row. Sharing:

- ``hard`` (default): one encoder, every task's head on top of it.
- ``soft``: one encoder per task, each pulled towards the others by an L2 penalty on the distance
  of its weights from their mean (``soft_weight``); it stores one encoder per task, and its cost
  columns count every encoder.

Each micro-batch comes from one task, drawn by a sampler plugin (``sampler``: ``uniform``,
``proportional``, ``temperature``, ``annealed``, or any registered with ``register_samplers``), or
(``batching = "mixed"``) from every task at once with the losses weighted by the sampler's
probabilities. ``steps = "matched"`` trains as many optimizer steps as the single-task runs
together (the sum over tasks of steps per epoch x epochs, or of ``max_steps``), so the comparison with
``full_finetune`` is at equal compute. Selection evaluates every task's selection split: early
stopping follows the group's tuning objective (the mean over tasks of each score's gain over the
task's trivial baseline, as a share of the headroom to ``Task.metric_scale``:
``tlbench.tuning.group_objective``), and ``selection = "per_task"`` keeps each task's best checkpoint.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tlbench import EncoderStrategy, EngineOptions, EngineStrategy, Fitted, Float, Job, Registry, hookimpl
from tlbench.errors import suggest


class MultitaskOptions(EngineOptions):
    tasks: list[str] | None = Field(
        None, min_length=1, description="task labels trained together [default: every task of the suite]")
    sharing: Literal["hard", "soft"] = Field(
        "hard", description="one encoder, or one encoder per task pulled together")
    soft_weight: float = Field(1e-3, ge=0, description="soft sharing: weight of the L2 pull towards the mean")
    sampler: str = Field("temperature", description="which task the next batch comes from (a sampler plugin)")
    temperature: float = Field(2.0, gt=0, le=1000, description="sampler temperature (temperature, annealed)")
    cap: int | None = Field(None, gt=0, description="rows per task counted by the sampler at most")
    batching: Literal["task", "mixed"] = Field(
        "task", description="one task per batch, or a batch of every task with weighted losses")
    steps: Literal["matched"] | int = Field(
        "matched", description="optimizer steps: matched = the single-task runs' sum, or a number")
    selection: Literal["mean", "per_task"] = Field(
        "mean", description="early stopping on the tasks' mean normalised primary metric (gain over "
                            "the trivial baseline / headroom); per_task keeps each task's best")
    pooling: Literal["auto", "cls", "mean", "last"] = Field(
        "auto", description="which token states feed text-level heads: auto (the last real token for a "
                            "causal decoder, else cls), cls (first token), mean, last (last real token)")
    head: Literal["linear", "mlp"] = Field("linear", description="every task's head")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the heads")

    def identity(self) -> dict[str, Any]:
        """Ids hash ``pooling = "auto"`` as ``cls``, the default before ``auto`` existed and what it
        is for every encoder (as :class:`tlbench.EncoderOptions` does), so stored runs keep their ids."""
        out = super().identity()
        if out.get("pooling") == "auto":
            out["pooling"] = "cls"
        return out

    @field_validator("steps")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"steps must be 'matched' or a positive number, got {value}")
        return value

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, value: str, info: ValidationInfo) -> str:
        """Checked against the samplers of the plugin manager in the validation context
        (``model_validate(data, context={"plugins": plugins})``, as ``load_suite`` passes it);
        without one the name is checked when the run looks the sampler up."""
        plugins = (info.context or {}).get("plugins")
        if plugins is None:
            return value
        names = plugins.samplers.names()
        if value not in names:
            close = suggest(value, names)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown sampler {value!r}.{hint} Known: {', '.join(names)}")
        return value


class Multitask(EngineStrategy):
    description = "one encoder, a head per task, trained on a group of tasks at once"
    Options = MultitaskOptions
    # no epochs axis: no single-task strategy tunes its epochs, so multitask does not either (a
    # suite's [training] budget fixes every strategy's steps; tests/unit/test_budget.py compares)
    search_space = {"lr": Float(1e-5, 3e-4, log=True), "temperature": Float(1.0, 5.0)}
    options: MultitaskOptions

    @classmethod
    def task_group(cls, options: MultitaskOptions, tasks: tuple[str, ...]) -> tuple[str, ...]:  # type: ignore[override]
        if options.tasks is None:
            return tasks
        unknown = [t for t in options.tasks if t not in tasks]
        if unknown:
            close = suggest(unknown[0], list(tasks))
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"tasks names {unknown}, not tasks of this suite.{hint} "
                             f"Tasks: {', '.join(tasks)}")
        return tuple(dict.fromkeys(options.tasks))

    def planned_examples(self, train_rows: int | None, *,
                         group: Sequence[int | None] = ()) -> float | None:
        """This task's share of the group's training (``group``: every task's rows; empty: a group
        of this task alone). ``steps = "matched"`` trains the single-task runs' steps together:
        with a task per micro-batch, about this task's own single-task examples (rows x epochs, or
        ``max_steps x batch_size``); ``mixed`` batches give every task a batch at each micro-batch,
        so each draws the whole group's. A number of steps is ``steps x batch_size`` rows in all:
        with a task per micro-batch an equal share each (the sampler decides the real split, the
        total is exact); ``mixed``: ``steps x batch_size`` for every task."""
        o, rows = self.options, list(group) or [train_rows]
        if o.steps == "matched":
            if o.batching == "task":
                return super().planned_examples(train_rows)
            each = [EngineStrategy.planned_examples(self, r) for r in rows]
            known = [e for e in each if e is not None]
            return sum(known) if len(known) == len(each) else None
        total = float(o.steps * o.batch_size)
        return total if o.batching == "mixed" else total / len(rows)

    def fit(self, job: Job) -> Fitted:
        return self.fit_group({job.task.name: job})[job.task.name]

    def fit_group(self, jobs: Mapping[str, Job]) -> dict[str, Fitted]:
        from transformers import set_seed

        from tlbench.engine import Collator, length_grouped_loader, rows_of
        from tlbench.engine.training import Compute, run_steps
        from tlbench.tuning import Headroom, group_objective

        o, labels = self.options, list(jobs)
        first = jobs[labels[0]]
        set_seed(first.seed)
        model = _build_model(jobs, o)
        accum = o.grad_accum_steps
        loaders = {t: length_grouped_loader(rows_of(jobs[t].encoded("train")), o.batch_size // accum,
                                            Collator(jobs[t].pad_id), first.seed + i,
                                            o.length_grouping)
                   for i, t in enumerate(labels)}
        # what each single-task run would train (the engine's ``train``: steps per epoch x epochs)
        # (``max_steps``, a suite's [training] budget, replaces epochs there too)
        passes = {t: max(1, len(loader) // accum) for t, loader in loaders.items()}
        per_task = {t: o.max_steps or max(1, math.ceil(n * o.epochs)) for t, n in passes.items()}
        total = sum(per_task.values()) if o.steps == "matched" else o.steps
        steps_per_epoch = sum(passes.values()) if o.max_steps else max(1, round(total / o.epochs))
        sizes = {t: min(len(jobs[t].data.splits["train"]), o.cap or math.inf) for t in labels}
        stream = _Stream(loaders, sizes, o, first.seed, total * accum, _samplers(first))
        fitted = {t: _TaskFitted(model, t, jobs[t], o) for t in labels}
        best = _Selection(model, labels, o.selection)
        # early stopping and the pruner follow the group's tuning objective: each task's selection
        # score as its gain over the task's trivial baseline, a share of the headroom to the metric's
        # best value, averaged (``tlbench.tuning.group_objective``): no task's scale dominates
        headroom = {t: Headroom.of(jobs[t].task, jobs[t].data) for t in labels}

        def evaluate() -> float:
            scores = {t: jobs[t].score("select", fitted[t].predict("select"))[jobs[t].task.primary_metric]
                      for t in labels}
            best.update(scores)
            return group_objective(scores, headroom)

        compute = Compute()  # over every task of the group: each task's record shows the whole training
        # its epochs: passes over the group's training rows, the micro-batches drawn over those of one
        # pass (every task's loader once; a mixed micro-batch holds a batch of every task)
        mixed = o.batching == "mixed"
        per_epoch = sum(len(loader) for loader in loaders.values()) / (len(loaders) if mixed else 1)
        curve = run_steps(model, iter(stream), model.step_loss, o, total=total,
                          steps_per_epoch=steps_per_epoch, micro_batches_per_epoch=per_epoch,
                          device=first.device, evaluate=evaluate,
                          report=first.report, progress=first.progress,
                          description=f"{self.name} {'+'.join(labels)} seed {first.seed}", count=compute)
        details = {"steps": total, "single_task_steps": per_task, "batches_drawn": dict(stream.drawn),
                   "sharing": o.sharing, **_backbone_details(model, labels)}
        for t in labels:
            own = best.restore(t)
            if own is not None:
                fitted[t] = _TaskFitted(model, t, jobs[t], o, module=own)
            fitted[t].curve, fitted[t].details, fitted[t].compute = curve, details, compute
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        model = _build_model({job.task.name: job}, self.options)
        load_trained(model.for_task(job.task.name), directory)
        return _TaskFitted(model, job.task.name, job, self.options)


def _samplers(job: Job) -> Registry:
    """The samplers of the run's plugin manager (never the process-global one)."""
    if job.plugins is None:
        raise ValueError("multitask needs the run's plugin manager to find its sampler: build the "
                         "job with prepare_job(..., plugins=plugins)")
    return job.plugins.samplers


class _Stream:
    """Micro-batches for training: the sampler (from ``samplers``, the run's registry) picks a task,
    or weights every task, per micro-batch."""

    def __init__(self, loaders: dict[str, Any], sizes: dict[str, float], options: MultitaskOptions,
                 seed: int, micro_batches: int, samplers: Registry):
        import numpy as np

        self.loaders, self.sizes, self.o, self.total = loaders, sizes, options, max(1, micro_batches)
        self.sampler = samplers.get(options.sampler).factory(options.sampler)
        self.rng = np.random.default_rng(seed)
        self.iters = {t: self._cycle(loader) for t, loader in loaders.items()}
        self.drawn = {t: 0 for t in loaders}

    @staticmethod
    def _cycle(loader: Any) -> Iterator[Any]:
        while True:
            yield from loader

    def __iter__(self) -> Iterator[list[tuple[str, Any, float]]]:
        from tlbench.samplers import checked

        labels = list(self.loaders)
        for n in itertools.count():
            asked = self.sampler.probabilities(self.sizes, progress=min(1.0, n / self.total),
                                               temperature=self.o.temperature)
            probs = checked(asked, self.sizes, self.o.sampler)
            if self.o.batching == "mixed":
                chosen = [(t, probs[t]) for t in labels if probs[t] > 0]
            else:
                chosen = [(labels[int(self.rng.choice(len(labels), p=[probs[t] for t in labels]))], 1.0)]
            for t, _ in chosen:
                self.drawn[t] += 1
            yield [(t, next(self.iters[t]), weight) for t, weight in chosen]


def _backbone_details(model: Any, labels: Sequence[str]) -> dict[str, Any]:
    """The encoder's record details (attention, decoder) and the pooling ``auto`` resolved to for
    the group's text-level heads (the first task that has one)."""
    out: dict[str, Any] = {}
    for label in labels:
        out = {**EncoderStrategy.backbone_details(model.for_task(label)), **out}
    return out


def _build_model(jobs: Mapping[str, Job], o: MultitaskOptions) -> Any:
    from tlbench.engine.model import check_backbone_dtype, train_in_fp32
    from tlbench.engine.multitask import MultitaskModel

    first = next(iter(jobs.values()))
    check_backbone_dtype(o.backbone_dtype, first.device, o.precision)
    model = MultitaskModel(jobs, pooling=o.pooling, dropout=o.dropout, head=o.head, sharing=o.sharing,
                           soft_weight=o.soft_weight, backbone_dtype=o.backbone_dtype)
    train_in_fp32(model)
    return model


class _Selection:
    """``per_task``: a copy of each task's encoder and head at its best selection score."""

    def __init__(self, model: Any, labels: list[str], mode: str):
        self.model, self.labels, self.mode = model, labels, mode
        self.best: dict[str, float] = {}
        self.state: dict[str, dict[str, Any]] = {}

    def update(self, scores: dict[str, float]) -> None:
        if self.mode != "per_task":
            return
        from tlbench.engine.fitted import trained_state

        for t, value in scores.items():
            if value > self.best.get(t, -math.inf):
                self.best[t] = value
                module = self.model.for_task(t)
                self.state[t] = {k: v.clone() for k, v in trained_state(module).items()}

    def restore(self, label: str) -> Any:
        if label not in self.state:
            return None
        module = copy.deepcopy(self.model.for_task(label))
        module.load_state_dict(self.state[label], strict=False)
        return module.eval()


class _TaskFitted(Fitted):
    """One task's view of the multitask model: its encoder and head predict and are stored; the
    parameter counts are the whole model's (everything that trained for this result)."""

    compute: Any = None  # the group's training (``tlbench.engine.training.Compute``)

    def __init__(self, model: Any, label: str, job: Job, o: MultitaskOptions, module: Any = None):
        from tlbench.engine import Collator, ModuleFitted, rows_of

        self.model = model
        self.inner = ModuleFitted(module if module is not None else model.for_task(label),
                                  lambda role: rows_of(job.encoded(role)), Collator(job.pad_id),
                                  device=job.device, batch_size=o.eval_batch_size, precision=o.precision)

    @property
    def module(self) -> Any:
        """The task's encoder and head (what predicts and is stored)."""
        return self.inner.module

    def predict(self, role: Any) -> Any:
        return self.inner.predict(role)

    def parameter_counts(self) -> tuple[int, int]:
        from tlbench.engine import count_parameters

        return count_parameters(self.model)

    def save(self, directory: Path) -> None:
        self.inner.save(directory)


@hookimpl
def register_strategies(register):
    register("multitask", Multitask)
