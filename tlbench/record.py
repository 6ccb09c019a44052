"""The run record: what one run (a cell, a seed, the default or tuned options, or a tuning trial) leaves.

The runner builds a :class:`RunRecord`; the store keeps it as JSON (``model_dump(mode="json")``);
the analysis, the report, ``verify`` and the CLI read its attributes. Every part is frozen: a record
is changed only by making a new one (:meth:`RunRecord.but`). Reading JSON goes through
:func:`load_record`, which validates each record and migrates older schema versions, so the
committed ``runs.jsonl`` of an older tlbench still renders its leaderboard.

Field by field, in the manner of lm-evaluation-harness's ``result_schema.py``. Schema versions:

- 1: the untyped dict of tlbench 0.1 (``schema: 1``).
- 2: this model. Facts that version 1 kept only inside ids are fields (``trial_number``,
  ``tuning_key``); ``secondary_metrics`` (the task's declared secondary columns), each data
  source's ``description`` and the task's ``label_names`` are recorded. Fields added since, each
  optional with a default that reads older records as they were: ``train_subset`` (None before
  subsets) and a per-class ``train_size`` (``{"per_class": 8}``), among others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Final = 2

Variant = Literal["default", "tuned", "trial"]
Status = Literal["ok", "failed", "pruned"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PerClass(_Frozen):
    """A training size given per class (``train_sizes = [{ per_class = 8 }]``): exactly this many
    training rows of every class (``TaskOptions.train_per_class``)."""

    per_class: int = Field(gt=0, le=10_000_000)

    def __str__(self) -> str:
        return f"{self.per_class}/class"


#: a ``train_sizes`` value: a number of training rows, ``"full"``, or rows per class
TrainSize = int | str | PerClass


class Metrics(_Frozen):
    """The task's metrics on its two evaluated splits (metric name -> value)."""

    #: on the selection split: what tuning and checkpoint selection may look at
    select: dict[str, float]
    #: on the report split: never used for choosing anything; the leaderboard's numbers
    report: dict[str, float]


class Trivial(_Frozen):
    """What a predictor that does not train scores on the report split (``Task.trivial_predictions``)."""

    method: str  # e.g. "majority class 'positive' of the training split"
    metrics: dict[str, float]  # the task's report metrics for those predictions (same keys as metrics.report)


class Items(_Frozen):
    """Per-item statistics of the report split, for the paired tests (``Task.item_stats``)."""

    #: one row per report item; reduced with ``reduce`` they give the primary metric exactly
    stats: list[list[float]] | None = None
    #: the reducer's name in ``tlbench.stats.REDUCERS`` (``mean``, ``f1``, ``pearson``, ``mcc``)
    reduce: str | None = None
    #: why the statistics were dropped (they did not reduce to the metric): no paired tests
    error: str | None = None
    #: one cluster label per row of ``stats`` (``Task.item_clusters``): rows with the same label are
    #: resampled together by the paired bootstrap. None: the items are resampled independently
    clusters: list[str] | None = None
    #: what a cluster is, e.g. ``paragraph`` (the leaderboard says "resampled by paragraph")
    cluster_by: str | None = None
    #: why the task's clusters were dropped (not one per item): the items are resampled independently
    clusters_error: str | None = None

    @model_validator(mode="after")
    def _one_cluster_per_item(self) -> Items:
        if self.clusters is not None and self.stats is not None and len(self.clusters) != len(self.stats):
            raise ValueError(f"{len(self.clusters)} cluster labels for {len(self.stats)} item rows")
        return self


class Calibration(_Frozen):
    """How well a classifier's probabilities match its accuracy on the report split
    (``tlbench.calibration``, whose docstring defines every number): as the model gives them, and
    after temperature scaling fitted on the selection split (``*_scaled``; the accuracy is unchanged).
    Classification tasks only (``Task.class_scores``)."""

    #: what the head output: ``logits``, or ``probabilities`` (their logarithms served as logits)
    scores: Literal["logits", "probabilities"]
    ece: float  # 15 equal-width bins on the top-class probability; Σ |bin|/n · |accuracy − confidence|
    brier: float  # mean over items of Σ over classes (p_c − y_c)², 0 to 2
    nll: float  # mean −ln p(gold), p clipped at 1e-12
    accuracy: float  # top-class accuracy of the probabilities
    temperature: float  # T of softmax(logits / T), fitted by NLL on the selection split
    ece_scaled: float
    brier_scaled: float
    nll_scaled: float
    accuracy_scaled: float  # equal to ``accuracy``: scaling keeps every item's arg-max
    #: the 15 bins ``(b/15, (b+1)/15]`` of the report's top-class probability, before scaling:
    #: (items, accuracy, mean confidence), None for an empty bin
    bins: list[tuple[int, float | None, float | None]]
    #: per report item (in the order of ``predictions["report"]``), the class probabilities before
    #: scaling, rounded to 4 decimals
    probabilities: list[list[float]]
    labels: list[int]  # per report item, the gold class id

    @model_validator(mode="after")
    def _one_row_per_item(self) -> Calibration:
        if len(self.probabilities) != len(self.labels):
            raise ValueError(f"{len(self.probabilities)} probability rows for {len(self.labels)} labels")
        if sum(count for count, _, _ in self.bins) != len(self.labels):
            raise ValueError("the bins do not count every report item")
        return self


class Source(_Frozen):
    """Where one split came from (``tlbench.DataSource``)."""

    location: str  # a mirror file relative to the data directory, or a Hub dataset id
    sha256: str = ""  # of the mirror file ("" for the Hub)
    description: str = ""  # what the task says about this split (e.g. "not the official protocol")


class DataInfo(_Frozen):
    """The data the run saw."""

    label: str  # how the leaderboard names the data, e.g. ``imdb[test:150]``
    sizes: dict[str, int]  # role -> rows (``train``, ``select``, ``report``)
    sources: dict[str, Source]  # role -> where it came from
    truncated_share: dict[str, float | None] = {}  # role -> share of examples cut by max_length
    label_names: tuple[str, ...] = ()  # the classes, in label-id order (empty for QA/regression)
    #: where the task says its data comes from (``Task.source_datasets``; a declared task's
    #: ``source_datasets``): what the contamination notes match. Empty in records made before it.
    source_datasets: tuple[str, ...] = ()


class Cost(_Frozen):
    """What the run cost. Means over seeds are the leaderboard's cost columns."""

    trainable_params: int
    total_params: int
    trainable_share: float
    stored_bytes: int  # what a user must keep per task (``Fitted.save``)
    train_seconds: float  # wall-clock seconds of ``Strategy.fit`` (a group's: the whole training)
    peak_memory_bytes: int
    # how peak_memory_bytes was measured, for this run alone (tlbench/memory.py): ``cuda_max_allocated``,
    # ``linux_vmhwm_reset`` (the process's peak RSS, its mark reset at the run's start) or
    # ``psutil_rss_sampled``; ``process_rss`` in older records (sampled RSS)
    memory_kind: str
    eval_examples_per_second: float  # report-split inference speed, cached work included
    # -- the compute behind the result (issue 17). None in records written before they were counted,
    # and, for the first six, for a strategy whose Fitted reports no ``compute`` (it does not train
    # with the engine's loop). A group's (multitask) counts are the whole training, over every task.
    optimizer_steps: int | None = None
    #: optimizer steps over the steps of one epoch (the training rows' micro-batches over grad_accum_steps)
    epochs: float | None = None
    examples_seen: int | None = None  # training rows over every micro-batch drawn (rows, not steps x batch)
    #: tokens the encoder read for the training: real (attention mask) and padded (every position).
    #: The linear probe's are its one-off feature extraction of the training split (one pass)
    tokens: int | None = None
    padded_tokens: int | None = None
    #: one-off work the training needs that later runs read from a cache (the probe's feature
    #: extraction): this run's seconds when it did the work (then inside ``train_seconds``), else the
    #: seconds the cache recorded for it (then not)
    oneoff_seconds: float | None = None
    #: ``train_seconds`` less the one-off work done inside it: own + one-off is the training from raw text
    own_train_seconds: float | None = None
    #: before ``fit``, not in ``train_seconds``: loading the data and the tokenizer and tokenizing the
    #: splits (reading the token cache after the first run); a group's: every task's
    prepare_seconds: float | None = None
    #: after ``fit``: inference, decoding and scoring of the selection and report splits (features a
    #: probe extracts for them included) and calibration
    eval_seconds: float | None = None


class TrainingDataInfo(_Frozen):
    """What the model was trained on, as a model plugin declared it (``model_training_data``)."""

    source: str  # where the list comes from, e.g. the model's data_config.json
    datasets: tuple[str, ...]  # the datasets' names as that source gives them


class ModelInfo(_Frozen):
    id: str  # as named in the suite
    path: str  # where its files were: the Hub id, a package folder, or a path relative to the repository
    revision_or_weights_sha256: str  # the weights' sha256 when local, else the Hub commit
    #: the model's own training data (for the leaderboard's contamination notes); None: undeclared
    training_data: TrainingDataInfo | None = None


class Provenance(_Frozen):
    """Where the result came from. A failed run keeps the part known before it started."""

    versions: dict[str, str]  # python and library versions
    plugins: dict[str, str]  # plugin distribution -> version, for those that loaded
    device: dict[str, str]  # device, its name, threads, machine, platform
    suite_file: str
    suite_sha256: str
    git: dict[str, Any]  # ``sha`` and ``dirty`` of the suite's repository
    model: ModelInfo | None = None
    dtype: str | None = None  # e.g. "float32 with bfloat16 autocast"
    batch_size: int | None = None  # as the strategy describes it (``Strategy.run_facts``)
    data_dir: str | None = None  # where the mirror came from ("$TLBENCH_DATA_DIR", "mirror", ...) or "hub"


class Spread(_Frozen):
    min: float
    max: float
    sd: float


class TuningSummary(_Frozen):
    """What a tuned run keeps about the tuning that chose its options."""

    trials: int  # charged to the budget
    complete: int
    pruned: int
    failed: int
    seconds: float  # wall-clock seconds of every trial
    best_trial: int | None
    best_select: float | None
    select_scores: list[float]  # the complete trials' selection scores
    select_spread: Spread | None  # their min, max and sd (the cell's sensitivity)


class GroupInfo(_Frozen):
    """A run of a strategy that trains tasks together (``Strategy.task_group``)."""

    id: str  # the group's id (``Cell.group_id``)
    tasks: tuple[str, ...]  # every task label of the group, in suite order
    #: the plain mean of the group's tasks' raw selection scores (mixed scales: not what tuning
    #: maximises, which is ``RunRecord.objective``, the mean of their normalised gains)
    select_mean: float
    reused: bool = False  # this record reads a training made for another member's run


class Reused(_Frozen):
    """The record this one copies: a run or trial that trained the same options with the same seed."""

    run_id: str
    variant: Variant


class RunRecord(_Frozen):
    """One run's outcome: a success with metrics and cost, or a failure with its error."""

    schema_version: Literal[2] = SCHEMA_VERSION
    suite: str
    run_id: str  # unique within the suite; for a failed run, several records may share it
    run_key: str  # what was trained: resolved options and seed (equal keys, equal training)
    cell_id: str
    strategy: str  # the strategy's label in the suite (what the leaderboard shows)
    strategy_name: str  # the registered strategy
    task: str  # the task's label in the suite
    task_name: str  # the registered task
    model: str
    seed: int
    variant: Variant
    #: for ``trial``: the tuning study's trial number; None otherwise
    trial_number: int | None = None
    #: for ``tuned``: the cell's tuning key (``Cell.tuning_key``) that chose its options; None otherwise
    tuning_key: str | None = None
    tuned_params: dict[str, Any] = {}  # the values tuning set (empty for defaults)
    train_size: TrainSize | None = None  # the suite's ``train_sizes`` value, if it has the axis
    #: which draw of the training rows (``TaskOptions.train_subset``: the suite's ``subsets`` axis);
    #: None in records made before subsets existed, which drew what subset 0 draws
    train_subset: int | None = None
    params: dict[str, Any]  # the cell's resolved configuration (model, task, strategy options)
    started_at: str  # ISO 8601, UTC
    finished_at: str
    status: Status
    error: str = ""  # the traceback of a failure, the reason of a pruning
    primary_metric: str = ""
    #: the task's declared secondary metrics (``Task.secondary_metrics``): the report's columns
    secondary_metrics: tuple[str, ...] = ()
    metrics: Metrics | None = None
    #: the task's trivial baseline on the same report split
    trivial: Trivial | None = None
    #: (step, selection score) pairs the training evaluated
    curve: list[tuple[int, float]] = []
    #: the selection score still rising beyond its noise at the end (``tlbench.convergence``);
    #: None: not judged (fewer than 3 curve points, older records)
    still_improving: bool | None = None
    details: dict[str, Any] = {}  # what the strategy says about its run (``Fitted.details``)
    predictions: dict[str, list[Any]] = {}  # role -> one decoded prediction per example
    items: Items | None = None
    #: classification: calibration of the report split's probabilities (None: other heads, older records)
    calibration: Calibration | None = None
    data: DataInfo | None = None
    cost: Cost | None = None
    provenance: Provenance
    tuning: TuningSummary | None = None  # tuned runs: the tuning that chose their options
    tuning_seconds: float | None = None  # trials: wall-clock seconds of the trial
    group: GroupInfo | None = None
    #: what tuning maximises, when not the cell's own selection score: a group's mean over its tasks
    #: of each selection score's gain over the trivial baseline as a share of the headroom
    #: (``tlbench.tuning.group_objective``; records before issue 17 hold the raw mean here)
    objective: float | None = None
    reused: Reused | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def score(self, split: Literal["select", "report"] = "report", metric: str | None = None) -> float:
        """The primary (or ``metric``) value on ``split``; NaN when the run has no metrics."""
        if self.metrics is None:
            return float("nan")
        return float(getattr(self.metrics, split)[metric or self.primary_metric])

    @property
    def select_objective(self) -> float:
        """What tuning maximises: a group's normalised mean over its tasks, else the selection score."""
        return self.objective if self.objective is not None else self.score("select")

    @property
    def error_line(self) -> str:
        """The last line of the error (the exception), for one-line displays."""
        return last_line(self.error)

    def but(self, **changes: Any) -> RunRecord:
        """A copy with ``changes`` (validated: a wrong type fails here, not in the report)."""
        return RunRecord.model_validate({**dict(self), **changes})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def last_line(error: str) -> str:
    return error.strip().splitlines()[-1] if error and error.strip() else "unknown error"


# -- reading, with migration ---------------------------------------------------------------------
_TRIAL = re.compile(r"-trial(\d+)-s\d+$")
_TUNED = re.compile(r"-tuned([0-9a-f]+)-s\d+$")


def _from_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (an untyped dict) -> version 2: facts parsed out of the run id become fields."""
    out = {k: v for k, v in obj.items() if k != "schema"}
    run_id = str(obj.get("run_id", ""))
    trial, tuned = _TRIAL.search(run_id), _TUNED.search(run_id)
    if obj.get("variant") == "trial" and trial:
        out["trial_number"] = int(trial.group(1))
    if obj.get("variant") == "tuned" and tuned:
        out["tuning_key"] = tuned.group(1)
    if "schema" in obj and obj["schema"] != 1:
        raise ValueError(f"unknown record schema {obj['schema']!r}")
    return out


def load_record(obj: dict[str, Any] | RunRecord,
                secondary: Callable[[str], tuple[str, ...]] | None = None) -> RunRecord:
    """A record from its JSON form, any schema version (validated; a bad record raises).

    ``secondary(task_name)``: the secondary metrics a task declares, to fill in for records of
    version 1, which did not keep them."""
    if isinstance(obj, RunRecord):
        return obj
    version = obj.get("schema_version", 1 if "schema" in obj else SCHEMA_VERSION)
    if version == 1:
        obj = _from_v1(obj)
        if secondary is not None and not obj.get("secondary_metrics"):
            obj["secondary_metrics"] = secondary(str(obj.get("task_name", "")))
    elif version != SCHEMA_VERSION:
        raise ValueError(f"record schema {version!r} is newer than this tlbench ({SCHEMA_VERSION}): upgrade")
    return RunRecord.model_validate(_portable_paths(obj))


def _portable_paths(obj: dict[str, Any]) -> dict[str, Any]:
    """Older records (either version) named the machine's paths: the data files, the data directory,
    the suite file and a local model folder. They are named as a new record names them (data files
    relative to the data directory; ``tlbench.provenance.portable_record``), so the next export of
    any storage or ``runs.jsonl`` carries no absolute path of the machine that ran it."""
    from tlbench.provenance import portable_record

    return portable_record(obj)


__all__ = ["SCHEMA_VERSION", "Calibration", "Cost", "DataInfo", "GroupInfo", "Items", "Metrics", "ModelInfo",
           "PerClass", "Provenance", "Reused", "RunRecord", "Source", "Spread", "TrainingDataInfo", "Trivial",
           "TrainSize", "TuningSummary", "last_line", "load_record"]
