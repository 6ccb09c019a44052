"""What strategies and tasks are, and the frozen types they exchange.

A :class:`Task` owns its data (where it comes from, its splits and their roles), tokenization, the
kind of head it needs and its metrics. A :class:`Strategy` owns which parameters train, what modules
it adds, and how its trained state is saved. The runner connects them through a frozen :class:`Job`,
and a strategy hands back what it trained (and its training curve) as a :class:`Fitted`.

Nothing here imports torch: plugins can be listed and suites validated without it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

if TYPE_CHECKING:
    import numpy as np

    from tlbench.model_facts import ModelFacts
    from tlbench.plugins import Plugins
    from tlbench.progress import Progress

#: the three roles a split plays. ``select`` chooses hyperparameters; ``report`` is never used for
#: choosing anything and gives the reported score.
Role = Literal["train", "select", "report"]
ROLES: tuple[Role, ...] = ("train", "select", "report")

#: the outputs a task may need: "classification" or "regression" (one output per text),
#: "token_classification" (one label per token) or "span" (start and end logits per token)
HeadKind = Literal["classification", "regression", "token_classification", "span"]
HEAD_KINDS: tuple[HeadKind, ...] = get_args(HeadKind)


#: put in a field's ``json_schema_extra``: an option added after records existed, whose default
#: trains exactly what was trained before it existed. At that default it stays out of cell and run
#: ids (:meth:`Options.identity`), so adding it does not orphan every stored record.
NEUTRAL_DEFAULT: dict[str, JsonValue] = {"tlbench_neutral_default": True}

#: Mark an option that only describes (where data came from, a note for the page) and never changes
#: what runs: ``Field(..., json_schema_extra=DESCRIPTIVE)``. It is never part of cell or run ids, so
#: editing it keeps every stored record of the cell.
DESCRIPTIVE: dict[str, JsonValue] = {"tlbench_descriptive": True}


class Options(BaseModel):
    """Base of every plugin's options: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def identity(self) -> dict[str, Any]:
        """The options as ids hash them: every field, except those marked :data:`NEUTRAL_DEFAULT`
        while they keep their default, and those marked :data:`DESCRIPTIVE`."""
        out = self.model_dump(mode="json")
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("tlbench_descriptive"):
                out.pop(name, None)
                continue
            if isinstance(extra, dict) and extra.get("tlbench_neutral_default") and name in out \
                    and getattr(self, name) == info.get_default(call_default_factory=True):
                del out[name]
        return out


class TaskOptions(Options):
    """Options every task understands. Caps are seeded subsets, stratified by label for
    classification; ``None`` keeps the whole split, and a cap above a split's size keeps it whole."""

    max_train_examples: int | None = Field(None, gt=0, description="cap on training rows (after carving)")
    max_eval_examples: int | None = Field(None, gt=0, description="cap on select and report rows")
    select_examples: int = Field(
        1000, gt=0, description="rows carved from train to choose on (tasks without a usable dev split)")
    max_length: int = Field(128, gt=1, le=8192, description="tokens per example, longer is cut")
    split_seed: int = Field(0, ge=0, description="seed of carving and capping (fixed across runs)")
    #: the low-resource protocol (issue 20), added after records existed: at their defaults both stay
    #: out of ids (:data:`NEUTRAL_DEFAULT`), so the cells of suites that do not use them keep theirs
    train_per_class: int | None = Field(
        None, gt=0, json_schema_extra=NEUTRAL_DEFAULT,
        description="exactly this many training rows of every class (seeded, after carving); instead "
                    "of max_train_examples, and only for tasks with one class label per example")
    train_subset: int = Field(
        0, ge=0, json_schema_extra=NEUTRAL_DEFAULT,
        description="which seeded draw of the training rows (max_train_examples or train_per_class): "
                    "0 is split_seed's own, k > 0 another one; the select and report rows never change")

    @model_validator(mode="after")
    def _one_training_draw(self) -> TaskOptions:
        if self.train_per_class is not None and self.max_train_examples is not None:
            raise ValueError("give max_train_examples (rows in all) or train_per_class (rows of each "
                             "class), not both")
        return self

    @property
    def train_seed(self) -> int:
        """The seed of the training rows' draw (``tlbench.data.cap``, ``tlbench.data.per_class``):
        ``split_seed`` for subset 0 (what every run drew before subsets existed), else one derived
        from ``split_seed`` and ``train_subset``. Carving and the select and report caps keep
        ``split_seed``: every subset is scored on the same items."""
        if self.train_subset == 0:
            return self.split_seed
        digest = hashlib.sha256(f"train-subset:{self.split_seed}:{self.train_subset}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def split_identity(self, role: str) -> dict[str, Any]:
        """The options that decide the rows of split ``role``, for caches keyed by them (tokens,
        features): :meth:`identity`, less the training draw's options for the select and report
        splits, whose rows they never change (every training subset reuses those caches)."""
        out = self.identity()
        if role != "train":
            out.pop("train_per_class", None)
            out.pop("train_subset", None)
        return out

    def draws_training_rows(self) -> bool:
        """The training rows are a seeded draw (a cap or a per-class size), so subsets differ."""
        return self.max_train_examples is not None or self.train_per_class is not None


class StrategyOptions(Options):
    """Base of strategy options; the shared engine's knobs live in ``EngineOptions``."""


@dataclass(frozen=True)
class HeadSpec:
    """The output a task needs: ``kind`` is one of :data:`HEAD_KINDS` (see :data:`HeadKind`), and
    ``num_labels`` the labels of a classification (1 for regression, 2 for span)."""

    kind: HeadKind
    num_labels: int

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {self.kind!r}; known: {', '.join(HEAD_KINDS)}")


@dataclass(frozen=True)
class DataSource:
    """Where a split came from: a mirror file with its sha256, or a Hub dataset and revision."""

    location: str
    sha256: str = ""
    description: str = ""


@dataclass(frozen=True)
class TaskData:
    """The splits of a task, by role, as Hugging Face ``datasets.Dataset`` objects."""

    splits: Mapping[Role, Any]
    sources: Mapping[Role, DataSource]
    label_names: tuple[str, ...] = ()
    #: how the leaderboard names this data, e.g. ``imdb[test:1000]`` or ``squad[dev-articles]``
    label: str = ""

    def sizes(self) -> dict[str, int]:
        return {role: len(ds) for role, ds in self.splits.items()}


@dataclass(frozen=True)
class ModelRef:
    """A model as named in the suite, and where its files are (``path`` may be a Hub id)."""

    id: str
    path: str
    revision: str = ""


class Task(ABC):
    """A benchmark task. Subclasses set ``Options``, ``primary_metric`` and implement the rest.

    Optional, for the leaderboard's paired tests: :meth:`item_stats` (per-item statistics of the
    report split) and :meth:`item_clusters` (which of those items are resampled together); for its
    calibration table, :meth:`class_scores` (a classification's per-example class scores)."""

    Options: ClassVar[type[TaskOptions]] = TaskOptions
    primary_metric: ClassVar[str]
    description: ClassVar[str] = ""
    #: where the task's data comes from, as a model's training data may name it (a dataset's short
    #: name, e.g. ``"my_corpus"``): the leaderboard notes the task when one of these names matches,
    #: token for token, a dataset a model plugin declares the model was trained on
    #: (:mod:`tlbench.contamination`)
    source_datasets: ClassVar[tuple[str, ...]] = ()
    #: the primary metric's best value: 1.0 for metrics in [0, 1] (accuracy, F1, correlations),
    #: 100.0 for percentages (SQuAD's F1). A group of tasks trained together is tuned on each task's
    #: gain over its trivial baseline as a share of the headroom up to this (``tlbench.tuning.Headroom``)
    metric_scale: ClassVar[float] = 1.0
    #: a task *kind*: a suite declares tasks of it from its own data with ``kind = "<name>"`` (sugar
    #: for ``task = "<name>"``; ``tlbench_builtin.kinds``), and validation lists the kinds by this
    is_kind: ClassVar[bool] = False

    def __init__(self, name: str, options: TaskOptions):
        self.name = name
        self.options = options

    @property
    @abstractmethod
    def head(self) -> HeadSpec: ...

    @abstractmethod
    def required_files(self, data_dir: Path) -> list[Path]:
        """Mirror files this task reads from ``data_dir`` (checked before any compute)."""

    def data_problems(self) -> list[str]:
        """Problems with the task's own data files that a look at their headers and first rows
        finds (missing files, unknown columns, label types), checked by ``tlbench validate`` before
        any compute, without importing torch or reading whole files. None by default."""
        return []

    #: the training-row draws this task honours (``TaskOptions.train_per_class``, ``train_subset``):
    #: a task that loads its training split through ``tlbench.data.per_class`` or ``cap`` with
    #: ``options.train_seed`` lists them. Validation refuses the others (:meth:`sampling_problem`): a
    #: task that ignored ``train_subset`` would train every subset on the same rows, and its runs
    #: would count as independent draws
    training_draws: ClassVar[frozenset[str]] = frozenset()

    def sampling_problem(self) -> str | None:
        """Why this task cannot draw its training rows as its options ask (a per-class size, a
        training subset), in words; None when it can. Checked for every cell at validation."""
        o = self.options
        per_class = "per_class" in self.training_draws and getattr(self.head, "kind", "") == "classification"
        if o.train_per_class is not None and not per_class:
            why = self.per_class_refusal()
            return f"a per-class training size ({{ per_class = {o.train_per_class} }}) needs a task " \
                   f"with one class label per example; {self.name} {why}"
        if o.train_subset and "subset" not in self.training_draws:
            return (f"training subsets need a task that draws its training rows with "
                    f"options.train_seed; {self.name} does not declare it (Task.training_draws), so every "
                    f"subset would train on the same rows")
        return None

    def per_class_refusal(self) -> str:
        """How this task says it has no per-example classes (the end of :meth:`sampling_problem`)."""
        kind = getattr(self.head, "kind", "?")
        what = {"regression": "predicts a number: it has no classes",
                "token_classification": "labels every token, not each example",
                "span": "extracts answer spans: it has no classes"}.get(kind, "does not sample by class")
        return f"{what} (its head is {kind})"

    @abstractmethod
    def load(self, data_dir: Path | None) -> TaskData:
        """Load the splits (from the mirror when ``data_dir`` is set, else the Hub) by role."""

    @abstractmethod
    def encode(self, tokenizer: Any, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        """Tokenize a batch of a split's rows (``datasets.Dataset.map`` with ``batched=True``: column
        name -> values): at least ``input_ids`` and ``labels``, one entry per encoded row."""

    @abstractmethod
    def decode(self, outputs: Any, encoded: Mapping[str, list[Any]], split: Any) -> Any:
        """Turn a head's outputs for the encoded rows of a split into one prediction per example.

        ``outputs`` is an array ``[rows, outputs]`` for text-level heads, or a list of
        ``[tokens, outputs]`` arrays for token-level heads; ``encoded`` is what :meth:`encode` made of
        ``split`` (several rows per example when a task windows long inputs)."""

    @abstractmethod
    def score(self, predictions: Any, split: Any) -> dict[str, float]:
        """Metrics of ``predictions`` against the split's gold labels; includes ``primary_metric``."""

    #: metrics reported besides the primary one (the leaderboard's secondary columns)
    secondary_metrics: ClassVar[tuple[str, ...]] = ()

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        """The task's trivial baseline: a predictor computed from the data without training.

        Returns (how it predicts, in words, e.g. ``"majority class 'positive' of the training
        split"``; one prediction per row of ``data.splits["report"]``, in the form :meth:`decode`
        returns, so that :meth:`score` scores them). ``data`` is what :meth:`load` gave, with its
        caps: the baseline may learn from the ``train`` split's labels (majority class, mean target)
        and must never read the report split's labels. The runner scores it on the run's report
        split and keeps it in every record (``RunRecord.trivial``), next to the run's own metrics;
        the leaderboard shows it in the task's section. None (the default): no trivial baseline."""
        return None

    def item_stats(self, predictions: Any, split: Any) -> tuple[list[list[float]], str] | None:
        """Per-item statistics of ``predictions`` and the reducer that turns them back into the
        primary metric (``tlbench.stats.REDUCERS``: ``mean``, ``f1``, ``pearson``, ``mcc``), kept in
        each record for the leaderboard's paired tests. None: this task offers no paired tests."""
        return None

    def item_clusters(self, split: Any) -> tuple[str, list[str]] | None:
        """The report split's items grouped into clusters the paired bootstrap resamples whole:
        (what a cluster is, e.g. ``"paragraph"``; one label per item, in the order of
        :meth:`item_stats`' rows). Items that share a label are not independent (questions on one
        paragraph, sentences of one document), so a comparison resampling them one by one would be
        overconfident. None (the default): the items are independent. Labels need only be equal
        within a cluster and stable across loads of the same split; a list of the wrong length is
        dropped by the runner (noted in the record's ``items.clusters_error``)."""
        return None

    def class_scores(self, outputs: Any, encoded: Mapping[str, list[Any]],
                     split: Any) -> tuple[Any, Any] | None:
        """For the record's calibration (``tlbench.calibration``): the head's ``outputs`` for
        ``split`` (as :meth:`decode` receives them) as (class scores ``[examples, classes]``, one row
        per prediction :meth:`decode` makes, in its order; the gold class ids ``[examples]``). The
        scores are logits (softmax gives the probabilities), or probabilities (non-negative rows
        summing to 1), whose logarithms then serve as logits; their arg-max should be what
        :meth:`decode` predicts. None (the default): the task has no class probabilities
        (regression, token labels, spans) and its records no calibration."""
        return None

    def references(self, split: Any) -> list[Any]:
        return list(split["label"])

    def truncated_share(self, encoded: Mapping[str, list[Any]]) -> float | None:
        """Share of examples cut by the maximum length, from ``encode``'s ``truncated`` column.

        A task that encodes an example as several rows (QA windows) adds an ``example_id`` column;
        the share is then over examples (an example counts when any of its rows is flagged)."""
        flags = encoded.get("truncated")
        if not flags:
            return None
        ids = encoded.get("example_id")
        if ids is None:
            return sum(flags) / len(flags)
        cut: dict[Any, bool] = {}
        for example, flag in zip(ids, flags, strict=True):
            cut[example] = cut.get(example, False) or bool(flag)
        return sum(cut.values()) / len(cut)


@dataclass(frozen=True)
class Job:
    """Everything a strategy needs for one run. Built by the runner (``tlbench.prepare_job``) and
    frozen: a strategy reads it, and hands back what it has to say through the :class:`Fitted` that
    ``fit`` returns (:attr:`Fitted.curve`, :attr:`Fitted.details`)."""

    task: Task
    model: ModelRef
    data: TaskData
    seed: int
    device: str
    cache_dir: Path
    #: the encoded rows of a split by role (``Task.encode``'s columns), tokenized once and cached
    encoded: Callable[[Role], Mapping[str, list[Any]]]
    #: the tokenizer's padding token id (what a collator pads ``input_ids`` with)
    pad_id: int
    #: where long loops report their progress (``tlbench.progress``); None: silent
    progress: Progress | None = None
    #: called with (optimizer step, selection score) at each intermediate evaluation (tuning prunes on it)
    report: Callable[[int, float], None] = lambda step, value: None
    #: the plugin manager of the run (a strategy looks up other plugins, e.g. samplers, here), or None
    plugins: Plugins | None = None

    def score(self, role: Role, outputs: Any) -> dict[str, float]:
        """Decode a head's outputs for split ``role`` and score them."""
        split = self.data.splits[role]
        return self.task.score(self.task.decode(outputs, self.encoded(role), split), split)


class Fitted(ABC):
    """A trained model: predicts, counts its parameters, and saves what a user must store.

    Besides the abstract methods, a strategy may set three attributes on the instance it returns
    (the class defaults say "nothing"): :attr:`curve` and :attr:`details` go into the run's record,
    :attr:`module` lets the contract kit (``tlbench.testing``) check the trained weights."""

    #: (optimizer step, selection score) at each evaluation during training, in order
    curve: Sequence[tuple[int, float]] = ()
    #: what the strategy says about its run for the record (multitask: its steps and draws per task)
    details: Mapping[str, Any] = MappingProxyType({})
    #: the trained ``torch.nn.Module`` that predicts and is stored, when the strategy has one
    module: Any = None

    @abstractmethod
    def predict(self, role: Role) -> np.ndarray:
        """Head outputs for every row of the job's split ``role``, in row order."""

    @abstractmethod
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the model as trained."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the state a user must keep for this task (what ``Strategy.load`` reads back)."""

    def cached_seconds(self, role: Role) -> float:
        """Seconds of inference work for ``role`` done before :meth:`predict` and cached (frozen
        features, say); the runner adds them so the inference cost is honest from raw text."""
        return 0.0


class Strategy(ABC):
    """A way of transferring a pretrained encoder to a task."""

    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    description: ClassVar[str] = ""
    #: what tuning may change: option name -> ``tlbench.space.Float | Int | Choice`` (empty: nothing),
    #: or a function of the cell's options returning that (a staticmethod)
    search_space: ClassVar[Any] = {}

    def __init__(self, name: str, options: StrategyOptions):
        self.name = name
        self.options = options

    @classmethod
    def task_group(cls, options: StrategyOptions, tasks: tuple[str, ...]) -> tuple[str, ...] | None:
        """The suite's task labels this strategy trains together (``tasks`` lists them all), or None:
        one task per training (every strategy but multitask). A strategy returning a group trains
        once per group and seed in :meth:`fit_group`, and each task of the group still gets its own
        cell, record and leaderboard row. Raise ``ValueError`` for a group naming unknown tasks."""
        return None

    def fit_group(self, jobs: Mapping[str, Job]) -> Mapping[str, Fitted]:
        """Train once on every task of a group (task label -> its job); one :class:`Fitted` per
        task. Only strategies whose :meth:`task_group` returns a group are asked."""
        raise NotImplementedError(f"{type(self).__name__} trains one task at a time")

    def problem(self, head: HeadSpec) -> str | None:
        """Why this strategy, with its options, cannot serve a task needing ``head`` (None when it
        can). Checked for every cell when a suite is validated, before any compute."""
        return None

    def model_problem(self, model: ModelFacts) -> str | None:
        """Why this strategy, with its options, cannot serve ``model`` (None when it can), from what
        the model's config.json says (:class:`tlbench.ModelFacts`: its type, layers, whether
        transformers has a masked-LM head for it, ...; a fact the config does not give is None:
        let the cell go, and check again when the model is built). Checked for every model and
        strategy when a suite is validated, before any compute, without torch."""
        return None

    def run_facts(self) -> dict[str, Any]:
        """What a run's record says about how this strategy computes: ``precision`` (``"auto"``,
        ``"fp32"``, ``"bf16"``) and ``batch_size`` (rows per optimizer step) where it has them.
        Nothing by default; the engine's strategies (:class:`tlbench.EngineStrategy`) give both."""
        return {}

    def planned_epochs(self) -> float:
        """Passes over the training rows one run makes, for ``tlbench validate --plan``'s estimate
        of the work (1.0 by default; the engine's strategies return their ``epochs`` option)."""
        return 1.0

    def planned_examples(self, train_rows: int | None, *,
                         group: Sequence[int | None] = ()) -> float | None:
        """Training examples one run draws for a task of ``train_rows`` rows (None: unknown), for
        ``tlbench validate --plan``: ``train_rows x planned_epochs()`` by default, None when the rows
        are unknown. A strategy whose runs are sized in steps (the engine's ``max_steps``, which a
        suite's ``[training] budget`` in steps or examples sets) returns steps x rows per step, known
        without the rows. ``group``: for a strategy that trains tasks together (:meth:`task_group`),
        the training rows of every task of the group, this one's included; the answer is then this
        task's share of the group's training. Empty for a single-task cell."""
        return None if train_rows is None else train_rows * self.planned_epochs()

    @abstractmethod
    def fit(self, job: Job) -> Fitted:
        """Train on ``job``'s train split (choosing nothing on the report split)."""

    @abstractmethod
    def load(self, job: Job, directory: Path) -> Fitted:
        """Rebuild a :class:`Fitted` from what :meth:`Fitted.save` wrote."""
