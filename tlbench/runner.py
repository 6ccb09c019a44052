"""A run (cell + seed) -> one record: metrics, cost and provenance, or the failure as data."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tlbench.config import Suite
from tlbench.convergence import group_still_improving, run_still_improving
from tlbench.errors import StopTrial, TlbenchError
from tlbench.grid import Run, stable_id
from tlbench.interfaces import ModelRef, Role, TaskData
from tlbench.memory import PeakMemory
from tlbench.plugins import Plugins
from tlbench.provenance import (
    data_dir_label,
    data_location,
    device_description,
    file_sha256,
    git_state,
    portable_path,
    repo_root,
    suite_file_label,
    versions,
)
from tlbench.record import RunRecord, Trivial


def default_cache_dir() -> Path:
    return Path(os.environ.get("TLBENCH_CACHE_DIR", Path.home() / ".cache" / "tlbench"))


@functools.cache
def code_fingerprint(cls: type) -> str:
    """sha256 of ``cls``'s qualified name and the source files defining it and its bases: a task's
    tokenization cache is invalidated when its code (a plugin upgrade, a local edit) changes, not only
    its options, and two task classes of one module never share a cache (the kit's toy tagging and
    regression tasks, both named "toy" on in-memory data, once read each other's tokens)."""
    digest = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}".encode())
    for klass in cls.__mro__:
        path = getattr(sys.modules.get(klass.__module__), "__file__", None)
        if path and Path(path).is_file():
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def encoder_for(task: Any, data: TaskData, model: ModelRef, tokenizer: Any,
                cache_dir: Path) -> Callable[[Role], Any]:
    """``encoded(role)``: the split tokenized once per (model, task, split) and cached on disk."""
    memo: dict[Role, Any] = {}
    task_cls: type = type(task)  # plain ``type``: mypy takes no ``type[X]`` for the cache's Hashable key

    def encoded(role: Role) -> Any:
        if role not in memo:
            split = data.splits[role]
            key = hashlib.sha256(json.dumps(
                [model.id, model.revision, task.name, split_options(task.options, role),
                 role, data.sources[role].sha256, type(tokenizer).__name__, code_fingerprint(task_cls)],
                sort_keys=True).encode()).hexdigest()[:20]
            path = Path(cache_dir) / "tokens" / f"{key}.arrow"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds = split.map(lambda batch: task.encode(tokenizer, batch), batched=True,
                           remove_columns=split.column_names, cache_file_name=str(path),
                           load_from_cache_file=True)
            memo[role] = ds.to_dict()
        return memo[role]

    return encoded


def split_options(options: Any, role: Role) -> dict[str, Any]:
    """What of a task's options a split's caches are keyed by (``TaskOptions.split_identity``)."""
    split_identity = getattr(options, "split_identity", None)
    return split_identity(role) if callable(split_identity) else options.model_dump(mode="json")


def prepare_job(task: Any, model: ModelRef, data: TaskData, *, seed: int, device: str,
                cache_dir: Path, progress: Any = None,
                report: Callable[[int, float], None] | None = None,
                plugins: Plugins | None = None) -> Any:
    """The :class:`Job` a strategy receives, with every split tokenized (or loaded from cache).
    ``plugins``: the run's plugin manager, which strategies use to find other plugins (samplers)."""
    from tlbench.engine.model import load_tokenizer
    from tlbench.interfaces import Job
    from tlbench.model_checks import loaded_tokenizer_problem

    _quiet_libraries()
    tokenizer = load_tokenizer(model.path)
    if problem := loaded_tokenizer_problem(model.path, tokenizer):  # its ids would index past the model
        raise TlbenchError(f"model {model.id!r}: {problem}")
    job = Job(task=task, model=model, data=data, seed=seed, device=device, cache_dir=Path(cache_dir),
              encoded=encoder_for(task, data, model, tokenizer, cache_dir),
              pad_id=tokenizer.pad_token_id or 0, progress=progress,
              report=report or (lambda step, value: None), plugins=plugins)
    for role in data.splits:
        job.encoded(role)
    return job


def resolve_model(model_id: str, plugins: Plugins, base: Path | None = None) -> ModelRef:
    """Where a model's files are (a plugin's offline copy, a local path: ``~`` expanded, relative to
    ``base``, the suite's folder, then to the working directory; or the Hub id) and its identity:
    the sha256 of its weights when local, else the Hub commit transformers resolved."""
    from tlbench.engine.model import hub_revision, weights_hash
    from tlbench.model_checks import hub_problem, resolve, unresolved_message

    found = resolve(model_id, plugins, base)
    if found.path is None and (why := hub_problem(model_id)):  # found nowhere: fail now, not after
        raise TlbenchError(unresolved_message(model_id, found, why))  # transformers' retries
    path = str(found.path) if found.origin in ("plugin", "local") else model_id
    return ModelRef(model_id, path, weights_hash(path) or hub_revision(path))


def model_training_data(model: ModelRef, plugins: Plugins) -> dict[str, Any] | None:
    """What a model plugin declares the model was trained on (``model_training_data``, given the
    local directory, or None for a Hub id), validated as the record keeps it; None when undeclared."""
    from tlbench.record import TrainingDataInfo

    path = Path(model.path)
    declared = plugins.model_training_data(model.id, path if path.is_dir() else None)
    if declared is None:
        return None
    return TrainingDataInfo.model_validate(dict(declared)).model_dump(mode="json")


class Runner:
    def __init__(self, suite: Suite, plugins: Plugins, *, device: str = "auto",
                 cache_dir: Path | None = None, progress: Any = None, store: Any = None):
        from tlbench.engine.model import pick_device, setup_device

        _quiet_libraries()
        self.suite, self.plugins, self.progress = suite, plugins, progress
        #: the suite's store (``tlbench.store.Store``): where a group's one training per seed is kept
        self.store = store
        self.device = pick_device(device)
        setup_device(self.device)
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self._data: dict[str, TaskData] = {}
        self._models: dict[str, ModelRef] = {}
        self._static = {
            "versions": versions(),
            "plugins": {s.distribution: s.version for s in plugins.statuses if s.status == "ok"},
            "device": device_description(self.device),
            "suite_file": suite_file_label(suite.path), "suite_sha256": file_sha256(suite.path),
            "git": git_state(str(suite.path.parent)),
        }
        _freeze_libraries()

    def model_ref(self, model_id: str) -> ModelRef:
        if model_id not in self._models:
            self._models[model_id] = resolve_model(model_id, self.plugins, self.suite.path.parent)
        return self._models[model_id]

    def _task_data(self, task: Any) -> TaskData:
        key = json.dumps([task.name, task.options.model_dump(mode="json")], sort_keys=True)
        if key not in self._data:
            self._data[key] = task.load(self.suite.data_dir)
        return self._data[key]

    def execute(self, run: Run, report: Callable[[int, float], None] | None = None) -> RunRecord:
        """Train and evaluate ``run``; its record, a failure (with the traceback) included."""
        cell = run.cell
        record: dict[str, Any] = {
            "suite": self.suite.name, "run_id": run.id, "run_key": run.key,
            "cell_id": cell.id,
            "strategy": cell.strategy, "strategy_name": cell.strategy_name, "task": cell.task,
            "task_name": cell.task_name, "model": cell.model, "seed": run.seed,
            "variant": run.variant, "trial_number": run.trial_number, "tuning_key": run.tuning_key,
            "tuned_params": run.params, "train_size": cell.train_size,
            "train_subset": getattr(cell.task_options, "train_subset", 0),
            "params": cell.resolved(), "started_at": _now(), "status": "failed", "error": "",
        }
        try:
            record.update(self._execute(run, report))
            record["status"] = "ok"
        except KeyboardInterrupt:
            raise
        except StopTrial as exc:
            record["status"], record["error"] = "pruned", str(exc)
        except Exception:  # noqa: BLE001 - a failing run is recorded and the grid goes on
            record["error"] = traceback.format_exc(limit=20)
        finally:
            _release_memory(self.device)
        record["finished_at"] = _now()
        record.setdefault("provenance", {**self._static})
        return RunRecord.model_validate(record)

    def _execute(self, run: Run, report: Callable[[int, float], None] | None) -> dict[str, Any]:
        from transformers import set_seed

        cell = run.cell
        if cell.group:
            return self._execute_group(run, report)
        task = self.plugins.tasks.get(cell.task_name).factory(cell.task_name, cell.task_options)
        strategy = self.plugins.strategies.get(cell.strategy_name).factory(
            cell.strategy_name, cell.strategy_options)
        prepare_start = time.perf_counter()
        job = self._job(task, cell.model, run.seed, report)
        prepare_seconds = time.perf_counter() - prepare_start
        set_seed(run.seed)
        with PeakMemory(self.device) as memory:
            start = time.perf_counter()
            fitted = strategy.fit(job)
            train_seconds = time.perf_counter() - start
            evaluated = _evaluate(job, fitted)
            eval_seconds = time.perf_counter() - start - train_seconds
        return self._outcome(cell, cell.task, job, fitted, evaluated, train_seconds, memory,
                             timing={"prepare_seconds": prepare_seconds, "eval_seconds": eval_seconds})

    def _job(self, task: Any, model_id: str, seed: int, report: Callable[[int, float], None] | None) -> Any:
        return prepare_job(task, self.model_ref(model_id), self._task_data(task), seed=seed,
                           device=self.device, cache_dir=self.cache_dir, progress=self.progress,
                           report=report, plugins=self.plugins)

    def _execute_group(self, run: Run, report: Callable[[int, float], None] | None) -> dict[str, Any]:
        """One training for every task of the cell's group (``Strategy.fit_group``), kept in the
        storage per (group, options, seed): the runs of the group's other cells, on any machine,
        read it instead of training again (``Store.group_parts``). Without a store (``verify``'s
        rerun) the group trains afresh."""
        cell = run.cell
        if self.store is None:
            return self._train_group(run, report)[cell.task]
        strategy_cls: type = self.plugins.strategies.get(cell.strategy_name).factory  # as in encoder_for
        key = stable_id({"group": cell.group_id, "seed": run.seed, "device": self.device,
                         "code": code_fingerprint(strategy_cls), "versions": self._static["versions"]})
        parts, shared = self.store.group_parts(key, lambda: self._train_group(run, report))
        part = dict(parts[cell.task])
        part["group"] = {**part["group"], "reused": shared}
        return part

    def _train_group(self, run: Run, report: Callable[[int, float], None] | None) -> dict[str, Any]:
        from transformers import set_seed

        cell = run.cell
        strategy = self.plugins.strategies.get(cell.strategy_name).factory(
            cell.strategy_name, cell.strategy_options)
        tasks, jobs = {}, {}
        prepare_start = time.perf_counter()
        for label, name, options in cell.group:
            try:
                tasks[label] = self.plugins.tasks.get(name).factory(name, options)
                jobs[label] = self._job(tasks[label], cell.model, run.seed, report)
            except Exception as exc:
                raise TlbenchError(f"task {label!r} of the {cell.strategy} group "
                                   f"{[m[0] for m in cell.group]}: {type(exc).__name__}: {exc}") from exc
        prepare_seconds = time.perf_counter() - prepare_start  # every task's: the group trains on all
        set_seed(run.seed)
        with PeakMemory(self.device) as memory:
            start = time.perf_counter()
            fitted = dict(strategy.fit_group(jobs))
            train_seconds = time.perf_counter() - start
            if set(fitted) != set(jobs):
                raise TlbenchError(f"{cell.strategy_name}.fit_group returned models for {sorted(fitted)}, "
                                   f"not for the group {sorted(jobs)}")
            evaluated: dict[str, Evaluation] = {}
            eval_seconds: dict[str, float] = {}
            for label in jobs:
                eval_start = time.perf_counter()
                evaluated[label] = _evaluate(jobs[label], fitted[label])
                eval_seconds[label] = time.perf_counter() - eval_start
        parts = {label: self._outcome(cell, label, jobs[label], fitted[label], evaluated[label],
                                      train_seconds, memory,
                                      timing={"prepare_seconds": prepare_seconds,
                                              "eval_seconds": eval_seconds[label]})
                 for label in jobs}
        from tlbench.tuning import Headroom, group_objective

        select = {label: float(evaluated[label].scores["select"][jobs[label].task.primary_metric])
                  for label in jobs}
        headroom = {label: Headroom.of(jobs[label].task, jobs[label].data) for label in jobs}
        # what tuning maximises and the pruner compares: the mean of the tasks' selection scores,
        # each as its gain over the task's trivial baseline (on the selection split) as a share of
        # the headroom to the metric's best value, so that no task's scale dominates (issue 17);
        # ``select_mean`` stays the plain mean of the raw scores, on their mixed scales
        objective = group_objective(select, headroom)
        terms = {label: headroom[label].describe(score) for label, score in select.items()}
        improving = group_still_improving(next(iter(fitted.values())).curve, [
            (jobs[t].task.primary_metric, len(jobs[t].data.splits["select"]), select[t], headroom[t].scale,
             headroom[t].gain(1.0) - headroom[t].gain(0.0)) for t in jobs])
        for part in parts.values():
            part["still_improving"] = improving  # the group's curve is the objective's
            part["group"] = {"tasks": list(jobs), "id": cell.group_id,
                             "select_mean": sum(select.values()) / len(select)}
            part["objective"] = objective
            part["details"] = {**part["details"], "objective": {
                "how": "mean over tasks of (select - trivial) / (metric_scale - trivial); "
                       "select / metric_scale without a trivial baseline", "tasks": terms}}
        return parts

    def _outcome(self, cell: Any, label: str, job: Any, fitted: Any, evaluated: Evaluation,
                 train_seconds: float, memory: PeakMemory,
                 timing: dict[str, float] | None = None) -> dict[str, Any]:
        """The record's outcome part. ``timing``: the run's ``prepare_seconds`` and ``eval_seconds``."""
        task, data = job.task, job.data
        with tempfile.TemporaryDirectory() as tmp:
            fitted.save(Path(tmp))
            stored = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        trainable, total = fitted.parameter_counts()
        compute = getattr(fitted, "compute", None)
        metrics, preds_report, seconds = evaluated.scores, evaluated.predictions, evaluated.seconds
        # the task's trivial baseline on the same report rows (no model: cheap); its failure is noted
        trivial, trivial_error = _trivial(task, data)
        details = dict(fitted.details)
        if trivial_error is not None:
            details["trivial_error"] = trivial_error
        if evaluated.calibration_error is not None:
            details["calibration_error"] = evaluated.calibration_error
        model = job.model
        n_report = len(data.splits["report"])
        facts = strategy_facts(self.plugins, cell)
        # a JSON part of the record (a group's parts are kept as JSON in the storage): numpy
        # scalars a task's metrics may hold become plain numbers here
        return _json({
            "primary_metric": task.primary_metric,
            "secondary_metrics": list(task.secondary_metrics),
            "metrics": metrics,
            "trivial": trivial,
            "curve": [list(point) for point in fitted.curve],
            # still rising beyond the selection split's noise at the end (a group's: below)
            "still_improving": run_still_improving(fitted.curve, task.primary_metric,
                                                   len(data.splits["select"]),
                                                   float(getattr(task, "metric_scale", 1.0))),
            # what a strategy says about its run (multitask's steps and draws), and a trivial
            # baseline's or the calibration's failure (``trivial_error``, ``calibration_error``)
            "details": details,
            "predictions": {"report": preds_report.tolist() if hasattr(preds_report, "tolist")
                            else list(preds_report)},
            "items": _items(task, preds_report, data.splits["report"], metrics["report"]),
            "calibration": evaluated.calibration,
            "data": {
                "label": data.label or label,
                "sizes": data.sizes(),
                # locations relative to the data directory, never the machine's paths (issue 17)
                "sources": {r: {"location": data_location(s.location, self.suite.data_dir,
                                                          repo_root(str(self.suite.path.parent))),
                                "sha256": s.sha256, "description": s.description}
                            for r, s in data.sources.items()},
                "truncated_share": {r: task.truncated_share(job.encoded(r)) for r in data.splits},
                "label_names": list(data.label_names),
                "source_datasets": list(task.source_datasets),
            },
            "cost": {
                "trainable_params": trainable, "total_params": total,
                "trainable_share": trainable / total if total else 0.0,
                "stored_bytes": stored, "train_seconds": train_seconds,
                "peak_memory_bytes": memory.peak, "memory_kind": memory.kind,
                "eval_examples_per_second": n_report / seconds if seconds > 0 else 0.0,
                # steps, epochs, examples, tokens and the one-off/own split of train_seconds, as the
                # strategy counted them (``Fitted.compute``: ``tlbench.engine.training.Compute``)
                **(compute.cost_fields(train_seconds) if compute is not None else {}),
                **(timing or {}),
            },
            "provenance": {
                **self._static,
                "model": {"id": model.id,
                          "path": portable_path(model.path, repo_root(str(self.suite.path.parent))),
                          "revision_or_weights_sha256": model.revision,
                          "training_data": model_training_data(model, self.plugins)},
                "dtype": _dtype(self.device, facts.get("precision", "fp32")),
                "batch_size": facts.get("batch_size"),
                "data_dir": data_dir_label(self.suite.data_dir, repo_root(str(self.suite.path.parent))),
            },
        })


def _json(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda x: x.item() if hasattr(x, "item") else float(x)))


def strategy_facts(plugins: Plugins, cell: Any) -> dict[str, Any]:
    """What the cell's strategy says about its runs (``Strategy.run_facts``: precision, batch size)."""
    strategy = plugins.strategies.get(cell.strategy_name).factory(cell.strategy_name, cell.strategy_options)
    return dict(strategy.run_facts())


@dataclass(frozen=True)
class Evaluation:
    """A trained model's scores on the select and report splits (role -> metric -> value), the
    report split's decoded predictions and its inference seconds; for a classification, the
    record's ``calibration`` (or why it failed)."""

    scores: dict[str, dict[str, float]]
    predictions: Any
    seconds: float
    calibration: dict[str, Any] | None = None
    calibration_error: str | None = None


def _evaluate(job: Any, fitted: Any) -> Evaluation:
    task, data = job.task, job.data
    scores: dict[str, dict[str, float]] = {}
    outputs_by_role: dict[str, Any] = {}
    for role in ("select", "report"):
        t0 = time.perf_counter()
        outputs = outputs_by_role[role] = fitted.predict(role)
        seconds = time.perf_counter() - t0 + fitted.cached_seconds(role)
        preds = task.decode(outputs, job.encoded(role), data.splits[role])
        scores[role] = task.score(preds, data.splits[role])
    calibration, error = _calibration(job, outputs_by_role)
    return Evaluation(scores, preds, seconds, calibration, error)  # the last role's: the report split


def _calibration(job: Any, outputs: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The record's ``calibration`` (``tlbench.calibration.calibrate``) from the task's class scores
    (``Task.class_scores``) of the select and report outputs: (it, None); (None, None) when the
    task has none. A failure must not fail the run: (None, the error), which the record keeps in
    ``details["calibration_error"]``, as it does a trivial baseline's."""
    from tlbench.calibration import calibrate

    task, data = job.task, job.data
    try:
        found = {role: task.class_scores(outputs[role], job.encoded(role), data.splits[role])
                 for role in ("select", "report")}
        if found["select"] is None or found["report"] is None:
            return None, None
        return calibrate(found["select"], found["report"]).model_dump(), None
    except Exception as exc:  # noqa: BLE001 - a calibration's failure is noted, the run stands
        return None, f"{type(task).__name__} calibration: {type(exc).__name__}: {exc}"


def _trivial(task: Any, data: TaskData) -> tuple[dict[str, Any] | None, str | None]:
    """The task's trivial baseline (``Task.trivial_predictions``) scored on ``data``'s report split,
    the rows the run is scored on (caps applied), as the record's ``trivial``: (it, None); (None,
    None) when the task declares none. A failure to compute or score it must not fail the run:
    (None, the error), which the record keeps in ``details["trivial_error"]``."""
    try:
        declared = task.trivial_predictions(data)
        if declared is None:
            return None, None
        method, predictions = declared
        scores = task.score(predictions, data.splits["report"])
        return Trivial(method=method, metrics={k: float(v) for k, v in scores.items()}).model_dump(), None
    except Exception as exc:  # noqa: BLE001 - a baseline's failure is noted, the run stands
        return None, f"{type(task).__name__}.trivial_predictions: {type(exc).__name__}: {exc}"


def _items(task: Any, predictions: Any, split: Any, metrics: dict[str, float]) -> dict[str, Any] | None:
    """The report split's per-item statistics (``Task.item_stats``), checked against the metric:
    reduced, they must give the primary metric, else the paired tests would test something else."""
    from tlbench.stats import reduce

    out = task.item_stats(predictions, split)
    if out is None:
        return None
    stats, how = out
    again, want = float(reduce(stats, how)), float(metrics[task.primary_metric])
    if not abs(again - want) <= 1e-6 * max(1.0, abs(want)):
        return {"error": f"{type(task).__name__}.item_stats reduce to {again} with {how!r}, "
                         f"not the {task.primary_metric} {want}: no paired tests for this run"}
    return {"stats": stats, "reduce": how, **_clusters(task, split, len(stats))}


def _clusters(task: Any, split: Any, n_items: int) -> dict[str, Any]:
    """The report items' clusters (``Task.item_clusters``), kept only when there is one label per
    item row: otherwise the paired bootstrap would pair the wrong items, so they are dropped with a
    note and the items are resampled independently."""
    declared = task.item_clusters(split)
    if declared is None:
        return {}
    by, labels = declared
    labels = [str(label) for label in labels]
    if len(labels) != n_items:
        return {"clusters_error": f"{type(task).__name__}.item_clusters gave {len(labels)} {by} labels "
                                  f"for {n_items} item rows: items resampled independently"}
    return {"clusters": labels, "cluster_by": str(by)}


def _dtype(device: str, precision: str) -> str:
    from tlbench.engine.model import autocast_dtype

    dtype = autocast_dtype(device, precision)
    return "float32" if dtype is None else f"float32 with {str(dtype).removeprefix('torch.')} autocast"


def _freeze_libraries() -> None:
    """Move the objects that exist now (the imported libraries': about 320,000 with torch and
    transformers) out of the garbage collector's sight, once per process, as CPython's
    ``gc.freeze`` is meant for. Each run collects twice (``_release_memory``, ``PeakMemory``), and
    a full collection that scans them costs 0.1-0.2 s; frozen, only what the runs made is scanned.
    Anything frozen that later turns into cyclic garbage stays in memory: library state, bounded."""
    import gc

    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _release_memory(device: str) -> None:
    """Give the run's tensors back before the next run (its model and optimizer are garbage now)."""
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quiet_libraries() -> None:
    """Library progress bars and warnings would bury ours; real errors still raise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
