"""Suite TOML -> a frozen, typed :class:`Suite`, validated once, before any compute.

Every problem names the file, the key path, the bad value and what is allowed. Plugins' own
``Options`` models validate their tables. The cross-checks of every cell (compatibility, search
spaces) are :mod:`tlbench.cells`'s, called once the suite is built; the models' are
:mod:`tlbench.model_checks`'s (their files, and one short Hub lookup for a model found nowhere
locally, none when offline). Nothing here imports torch.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tlbench.errors import ConfigError, TlbenchError, suggest
from tlbench.interfaces import Options
from tlbench.plugins import Plugins, get_plugins
from tlbench.record import PerClass, TrainSize
from tlbench.registry import Registry

DATA_ENV = "TLBENCH_DATA_DIR"


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RawOverride(_Raw):
    """Options applied to the cells a ``[[overrides]]`` entry matches (unset fields match all)."""

    strategy: str | None = None
    task: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    task_options: dict[str, Any] = Field(default_factory=dict)
    skip: bool = Field(False, description="run none of the matched cells (a combination the suite leaves "
                                          "out, e.g. one a strategy refuses); the leaderboard lists them "
                                          "as skipped by the suite")


class Budget(_Raw):
    """How much tuning each cell gets: the same for every strategy (that is what makes it fair)."""

    trials: int | None = Field(None, gt=0, le=100_000, description="trials per cell")
    seconds: float | None = Field(None, gt=0, description="wall-clock seconds of trials per cell")

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if (self.trials is None) == (self.seconds is None):
            raise ValueError("give exactly one of trials or seconds, e.g. {trials = 20} or {seconds = 600}")
        return self

    def describe(self) -> str:
        return f"{self.trials} trials" if self.trials else f"{self.seconds:g} s"


#: the training seed of tuning trials when ``[tuning] trial_seed`` is not set: a fixed value, not one
#: derived from ``seeds``, so adding reporting seeds keeps every cell's tuning (its key includes this).
#: It must not be a reporting seed (``Tuning.seed_problem``).
DEFAULT_TRIAL_SEED = 10_000


class Tuning(_Raw):
    """``[tuning]``: an Optuna study per cell on the selection split, then the best parameters are
    re-run for every seed (those are the reported results, next to the defaults' runs).

    Trials train with ``trial_seed``, which is never one of the suite's ``seeds``: a reported run is
    then never the trial that won selection (no winner's curse), only the same options retrained with
    a reporting seed. ``load_suite`` fills in the default, so the tuning key names the seed used."""

    budget: Budget
    pruner: Literal["median", "none"] = Field("median", description="stop hopeless trials early")
    sampler_seed: int = Field(0, ge=0, description="seed of each cell's TPE sampler (with the cell id)")
    trial_seed: int | None = Field(
        None, description=f"training seed of trials, never one of seeds [default: {DEFAULT_TRIAL_SEED}]")
    start_from_defaults: bool = Field(
        True, description="the first trial of each cell tries the strategy's default options (when "
                          "inside the space), trained with the trial seed like every trial")

    @property
    def seed(self) -> int:
        """The training seed of trials: ``trial_seed``, else :data:`DEFAULT_TRIAL_SEED`."""
        return DEFAULT_TRIAL_SEED if self.trial_seed is None else self.trial_seed

    def seed_problem(self, seeds: Sequence[int]) -> str | None:
        """Why the trial seed cannot go with reporting ``seeds`` (it is one of them), else None."""
        if self.seed not in seeds:
            return None
        why = ("a reported run would train exactly like a tuning trial, so the run that won selection "
               "would be reported (winner's curse): trials need a seed the report does not use")
        if self.trial_seed is None:
            return (f"seeds: {self.seed} is the default tuning trial seed; {why}. Drop it from seeds or "
                    f"set tuning.trial_seed to a seed not in seeds {list(seeds)}")
        return (f"tuning.trial_seed: {self.trial_seed} is one of seeds {list(seeds)}; {why}. Choose "
                f"a trial_seed not in seeds (or leave it unset: {DEFAULT_TRIAL_SEED})")

    def resolved(self) -> Tuning:
        """This tuning with ``trial_seed`` filled in (what ``load_suite`` keeps)."""
        return self if self.trial_seed is not None else self.model_copy(update={"trial_seed": self.seed})


class TrainingBudget(_Raw):
    """``[training] budget``: how much every engine strategy trains, exactly one of ``steps``,
    ``examples`` or ``epochs``. Steps and examples become each run's ``max_steps`` (examples:
    ``ceil(examples / batch_size)`` with the strategy's own ``batch_size``); epochs its ``epochs``."""

    steps: int | None = Field(None, gt=0, le=100_000_000, strict=True, description="optimizer steps per run")
    examples: int | None = Field(None, gt=0, le=10**12, strict=True,
                                 description="training rows per run: ceil(examples / batch_size) steps")
    epochs: float | None = Field(None, gt=0, le=100, description="passes over each run's training rows")

    @model_validator(mode="after")
    def _one(self) -> TrainingBudget:
        given = [k for k in ("steps", "examples", "epochs") if getattr(self, k) is not None]
        if len(given) != 1:
            got = f" (got {' and '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of steps, examples or epochs{got}, e.g. {{steps = 200}}")
        return self

    def options(self, batch_size: int) -> dict[str, Any]:
        """The engine options this budget sets for a strategy training ``batch_size`` rows a step."""
        if self.epochs is not None:
            return {"epochs": self.epochs, "max_steps": None}
        if self.steps is not None:
            return {"max_steps": self.steps}
        return {"max_steps": -(-int(self.examples or 0) // batch_size)}

    def describe(self) -> str:
        return (f"{self.steps} steps" if self.steps is not None else f"{self.examples} examples"
                if self.examples is not None else f"{self.epochs:g} epochs")


class Training(_Raw):
    """``[training]``: the same training for every engine strategy of the suite (issue 17), so their
    compute and checkpoint selection match. Each non-exempt strategy must train with the engine
    (its options are ``EngineOptions``) and train something; it may not set the keys this table
    sets (``tlbench.cells.training_problems`` says which)."""

    budget: TrainingBudget | None = None
    checkpoint: Literal["last", "best"] | None = Field(
        None, description="every engine strategy ends with its last weights, or those of its best selection "
                          "evaluation")
    patience: int = Field(0, ge=0, le=1000, description="checkpoint = best: also stop after this many "
                                                         "scheduled evaluations without a new best (0: off)")
    exempt: list[str] = Field(default_factory=list,
                              description="strategy labels left with their own training options")

    @model_validator(mode="after")
    def _something(self) -> Training:
        if self.budget is None and self.checkpoint is None:
            raise ValueError("give budget (e.g. {steps = 200}) or checkpoint (\"last\" or \"best\")")
        if self.patience and self.checkpoint != "best":
            raise ValueError("patience (early stopping) needs checkpoint = \"best\"")
        return self

    def options(self, batch_size: int) -> dict[str, Any]:
        """The engine options this table sets for a strategy training ``batch_size`` rows a step."""
        out = self.budget.options(batch_size) if self.budget else {}
        if self.checkpoint is not None:
            out.update(checkpoint=self.checkpoint, early_stopping_patience=self.patience)
        return out


class RawSuite(_Raw):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    models: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    data_dir: str | None = None
    storage: str | None = None
    heartbeat_seconds: int = Field(30, ge=1, le=3600,
                                   description="a run or trial with no heartbeat for twice this is retried")
    max_retries: int = Field(2, ge=0, le=100, description="retries of a run or trial whose worker died")
    tuning: Tuning | None = None
    training: Training | None = None
    baseline: str | None = Field(
        None, description="strategy label the leaderboard compares with [default: the first strategy]")
    train_sizes: list[Any] | None = Field(
        None, min_length=1,
        description="a grid axis: every cell at each training-set size (learning curves): a number of rows, "
                    "\"full\", or { per_class = K } (K rows of every class)")
    subsets: int | None = Field(
        None, ge=1, le=1000, strict=True,
        description="a grid axis: this many seeded draws of the training rows per size below \"full\" (the "
                    "select and report rows stay the same) [default: 5 with a per-class size, else 1]")
    equivalence_margin: float | dict[str, float] | None = Field(
        None, description="a difference from the baseline smaller than this (in the primary metric's units; "
                          "one for all tasks or per task label) is practically nil: the leaderboard then "
                          "tests equivalence (two one-sided tests) and can say \"equivalent\"")
    tasks: dict[str, dict[str, Any]]
    strategies: dict[str, dict[str, Any]]
    overrides: list[RawOverride] = Field(default_factory=list)


class Component(_Raw):
    """One strategy or task of the suite: its label (table key), plugin name and options."""

    label: str
    name: str
    options: Options
    #: the suite's changes to the strategy's declared search space (``search_space`` table)
    search_space: dict[str, Any] = Field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options.model_dump(mode="json")}


class Override(_Raw):
    strategy: str | None
    task: str | None
    model: str | None
    options: dict[str, Any]
    task_options: dict[str, Any]
    skip: bool = False

    def matches(self, strategy: str, task: str, model: str) -> bool:
        return all(want in (None, got) for want, got in
                   ((self.strategy, strategy), (self.task, task), (self.model, model)))


class Suite(_Raw):
    name: str
    path: Path
    description: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    tasks: tuple[Component, ...]
    strategies: tuple[Component, ...]
    overrides: tuple[Override, ...]
    data_dir: Path | None
    storage: str | None
    tuning: Tuning | None = None
    training: Training | None = None
    heartbeat_seconds: int = 30
    max_retries: int = 2
    baseline: str  # a strategy label of this suite (the first one unless the suite names one)
    train_sizes: tuple[TrainSize, ...] | None = None
    #: draws of the training rows per cell whose training rows are drawn (a size below "full", a
    #: task's cap): ``TaskOptions.train_subset`` 0 .. subsets - 1; 1: no subset axis
    subsets: int = 1
    equivalence_margin: float | dict[str, float] | None = None

    def skips(self, strategy: str, task: str, model: str) -> bool:
        """Whether an ``[[overrides]]`` entry with ``skip = true`` leaves this cell out of the grid."""
        return any(o.skip and o.matches(strategy, task, model) for o in self.overrides)

    def skipped(self) -> tuple[tuple[str, str], ...]:
        """The (strategy, task) labels the suite skips for every one of its models (the
        leaderboard's "skipped by the suite")."""
        return tuple((s.label, t.label) for t in self.tasks for s in self.strategies
                     if all(self.skips(s.label, t.label, m) for m in self.models))


# -- error formatting ------------------------------------------------------------------------
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _describe(err: Mapping[str, Any], prefix: str, allowed: list[str]) -> str:
    path = ".".join([prefix, *map(str, err["loc"])]).strip(".")
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    key = str(err["loc"][-1]) if err["loc"] else ""
    if kind == "extra_forbidden":
        close = suggest(key, allowed)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"{path}: unknown key {key!r}.{hint} Allowed: {', '.join(allowed) or '(none)'}."
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()))
        shown = f"{limit:g}" if isinstance(limit, float) else limit
        return f"{path} must be {_BOUNDS[kind]} {shown}, got {value!r}"
    if kind == "literal_error":
        return f"{path} must be one of {ctx.get('expected')}, got {value!r}"
    if kind == "missing":
        return f"{path} is required"
    if kind == "value_error" and not err["loc"]:  # a whole table's check: its message says it all
        return f"{path}: {str(err['msg']).removeprefix('Value error, ')}"
    return f"{path}: {err['msg']}, got {value!r}"


def _errors(exc: ValidationError, prefix: str, model: type[BaseModel]) -> list[str]:
    return [_describe(e, prefix, sorted(_model_at(model, e["loc"][:-1]).model_fields)) for e in exc.errors()]


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel]:
    """The model of a nested table at ``loc`` (``training.budget``: its keys are the allowed ones);
    ``model`` itself where the path leads to no model."""
    import typing

    current = model
    for part in loc:
        field = current.model_fields.get(str(part))
        if field is None:
            return model
        found = [a for a in (field.annotation, *typing.get_args(field.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return model
        current = found[0]
    return current


def _toml_error(path: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """tomllib puts the position in its message ("(at line 9, column 6)"); lead with it."""
    message = str(exc)
    where = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if where:
        message = message.replace(where.group(0), "")
    twice = re.search(r"Cannot declare \('(\w+)', '([^']+)'\) twice", message)
    if twice:
        message = f"[{twice.group(1)}.{twice.group(2)}] appears twice; give each table a distinct key"
    at = f"line {where.group(1)}, column {where.group(2)}: " if where else ""
    return ConfigError(path, [f"TOML syntax error at {at}{message}"])


# -- loading ---------------------------------------------------------------------------------
def _component(kind: str, label: str, table: dict[str, Any], registry: Registry,
               problems: list[str], context: dict[str, Any] | None = None) -> Component | None:
    """``context``: pydantic's validation context, ``{"plugins": plugins}`` (options naming other
    plugins, such as multitask's ``sampler``, are checked against that manager's registries)."""
    section = "strategies" if kind == "strategy" else "tasks"
    table = dict(table)
    if kind == "task" and "kind" in table:  # a task kind, declared from the suite's own data
        kinds = sorted(e.name for e in registry if getattr(e.factory, "is_kind", False))
        if "task" in table:
            problems.append(f"{section}.{label}: give task or kind, not both")
            return None
        if table["kind"] not in kinds:
            close = suggest(str(table["kind"]), kinds)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            problems.append(f"{section}.{label}.kind: unknown kind {table['kind']!r}.{hint} "
                            f"Kinds: {', '.join(kinds) or '(none registered)'}.")
            return None
        table["task"] = table.pop("kind")
    name = table.pop(kind, label)
    space = table.pop("search_space", {}) if kind == "strategy" else {}
    if not isinstance(space, dict):
        problems.append(f"{section}.{label}.search_space must be a table, got {space!r}")
        return None
    try:
        factory = registry.get(name).factory
    except TlbenchError as exc:
        problems.append(f"{section}.{label}: {exc}")
        return None
    try:  # the table's label too: a declared task names its data after it
        options = factory.Options.model_validate(table, context={**(context or {}), "label": label})
    except ValidationError as exc:
        problems.extend(_errors(exc, f"{section}.{label}", factory.Options))
        return None
    return Component(label=label, name=name, options=options, search_space=space)


def merge_options(component: Component, registry: Registry, extra: dict[str, Any],
                  context: dict[str, Any] | None = None) -> Options:
    """``component``'s options with ``extra`` (an override's) on top, validated by its plugin."""
    factory = registry.get(component.name).factory
    merged = factory.Options.model_validate({**component.options.model_dump(exclude_unset=True), **extra},
                                            context=context)
    for key, value in (component.options.__pydantic_private__ or {}).items():
        setattr(merged, key, value)  # state the options keep besides their fields (the suite's folder)
    return merged


def load_suite(path: str | os.PathLike[str], plugins: Plugins | None = None, *,
               check_data: bool = True, check_hub: bool = True) -> Suite:
    """Read and validate a suite file; raise :class:`ConfigError` listing every problem.

    ``check_data=False`` skips the mirror-file and model checks (``tlbench report`` needs no data
    and no model; :mod:`tlbench.model_checks`). ``check_hub=False``: a model found nowhere locally
    is not looked up on the Hub (``tlbench run`` warns instead, and its cells fail, recorded).
    """
    plugins = plugins or get_plugins()
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(source, exc) from None
    try:
        raw = RawSuite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _errors(exc, "", RawSuite)) from None

    problems: list[str] = []
    if not raw.tasks:
        problems.append("tasks: empty grid: the suite names no task ([tasks.<name>])")
    if not raw.strategies:
        problems.append("strategies: empty grid: the suite names no strategy ([strategies.<name>])")
    listed: tuple[tuple[str, Sequence[str | int]], ...] = (("models", raw.models), ("seeds", raw.seeds))
    for key, items in listed:
        dupes = sorted({str(x) for x in items if items.count(x) > 1})
        if dupes:
            problems.append(f"{key}: {', '.join(dupes)} listed more than once")
    if raw.tuning is not None and (seed_problem := raw.tuning.seed_problem(raw.seeds)):
        problems.append(seed_problem)
    if raw.baseline is not None and raw.baseline not in raw.strategies:
        close = suggest(raw.baseline, list(raw.strategies))
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        problems.append(f"baseline: {raw.baseline!r} is not a strategy of this suite.{hint} "
                        f"Strategies: {', '.join(raw.strategies)}.")
    train_sizes = _train_sizes(raw.train_sizes, problems) if raw.train_sizes else None
    margins = raw.equivalence_margin if isinstance(raw.equivalence_margin, dict) else {
        "": raw.equivalence_margin} if raw.equivalence_margin is not None else {}
    for label, margin in margins.items():
        if not margin > 0:
            key = f"equivalence_margin.{label}" if label else "equivalence_margin"
            problems.append(f"{key}: must be > 0, got {margin} (a margin in the primary metric's units)")
    if isinstance(raw.equivalence_margin, dict):
        for label in raw.equivalence_margin:
            if label not in raw.tasks:
                close = suggest(label, list(raw.tasks))
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                problems.append(f"equivalence_margin.{label}: not a task of this suite.{hint} "
                                f"Tasks: {', '.join(raw.tasks)}.")
    models: list[tuple[str, str]] = []  # (key, id) of the models tlbench.model_checks looks at
    for i, model in enumerate(raw.models):
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().is_dir():
            problems.append(f"models[{i}]: local model directory {model!r} not found "
                            f"(a Hugging Face id looks like 'org/name')")
        else:
            models.append((f"models[{i}]", model))
    context = {"plugins": plugins, "suite_dir": path.resolve().parent}  # relative data files start here
    tasks = [_component("task", k, v, plugins.tasks, problems, context) for k, v in raw.tasks.items()]
    strategies = [_component("strategy", k, v, plugins.strategies, problems, context)
                  for k, v in raw.strategies.items()]
    if check_data:  # each model's files, the tasks' max_length against it, the Hub (report needs none)
        from tlbench.model_checks import model_problems

        problems.extend(model_problems(models, plugins, tasks, raw.overrides, list(raw.strategies),
                                       hub=check_hub, base=path.resolve().parent))
    _same_twice("strategies", strategies, problems)
    _same_twice("tasks", tasks, problems)

    overrides = []
    for i, o in enumerate(raw.overrides):
        where = f"overrides[{i}]"
        for attr, pool in (("strategy", raw.strategies), ("task", raw.tasks), ("model", raw.models)):
            want = getattr(o, attr)
            if want is not None and want not in pool:
                close = suggest(want, pool)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                problems.append(f"{where}.{attr}: {want!r} is not in this suite.{hint}")
        if o.skip and (o.options or o.task_options):
            problems.append(f"{where}: skip = true runs none of its cells; give it no options or "
                            f"task_options (or drop skip)")
        if o.skip and o.strategy is None and o.task is None and o.model is None:
            problems.append(f"{where}: skip = true with no strategy, task or model skips every cell; name "
                            f"what it skips, e.g. strategy = 'ridge_probe', task = 'squad'")
        overrides.append(Override(**o.model_dump()))
        for section, comps, registry, wanted, extra in (
            ("options", strategies, plugins.strategies, o.strategy, o.options),
            ("task_options", tasks, plugins.tasks, o.task, o.task_options),
        ):
            for comp in comps:
                if comp is None or not extra or wanted not in (None, comp.label):
                    continue
                try:
                    merge_options(comp, registry, extra, context)
                except ValidationError as exc:
                    model = registry.get(comp.name).factory.Options
                    problems.extend(_errors(exc, f"{where}.{section}", model))

    data_dir = _data_dir(raw.data_dir, path, problems if check_data else [])
    for t in tasks if check_data else []:
        if t is not None:
            task = plugins.tasks.get(t.name).factory(t.name, t.options)
            problems.extend(f"tasks.{t.label}.{p}" if p.startswith("data_files.") else f"tasks.{t.label}: {p}"
                            for p in task.data_problems())
    if data_dir is not None and check_data:
        for t in tasks:
            if t is None:
                continue
            task = plugins.tasks.get(t.name).factory(t.name, t.options)
            missing = [str(f) for f in task.required_files(data_dir) if not f.is_file()]
            if missing:
                problems.append(
                    f"tasks.{t.label}: data mirror file not found: {', '.join(missing)} "
                    f"(data_dir = {data_dir}, from {_data_origin(raw.data_dir)}; a mirror holds "
                    f"<root>/<task>/<split>.jsonl.gz; unset {DATA_ENV} to use the Hugging Face Hub)"
                )
    if problems:
        raise ConfigError(source, list(dict.fromkeys(problems)))
    suite = Suite(
        name=raw.name or path.stem, path=path.resolve(), description=raw.description,
        models=tuple(raw.models), seeds=tuple(raw.seeds),
        tasks=tuple(t for t in tasks if t), strategies=tuple(s for s in strategies if s),
        overrides=tuple(overrides), data_dir=data_dir, storage=raw.storage,
        tuning=raw.tuning.resolved() if raw.tuning else None,
        training=raw.training,
        heartbeat_seconds=raw.heartbeat_seconds, max_retries=raw.max_retries,
        baseline=raw.baseline or next((s.label for s in strategies if s), ""),
        train_sizes=tuple(train_sizes) if train_sizes else None,
        subsets=_subsets(raw.subsets, train_sizes, [t for t in tasks if t]),
        equivalence_margin=raw.equivalence_margin,
    )
    from tlbench.cells import cell_problems, class_count_problems  # cells imports this module's types

    problems = cell_problems(suite, plugins)
    if check_data and not problems:  # per-class sizes against the classes' rows (label columns read)
        problems = class_count_problems(suite, plugins)
    if problems:
        raise ConfigError(source, problems)
    return suite


#: training subsets per size when a suite has a per-class size and does not say (issue 20: "at least 5")
DEFAULT_PER_CLASS_SUBSETS = 5


def _train_sizes(raw: list[Any], problems: list[str]) -> list[TrainSize]:
    """``train_sizes`` entries: a positive number of rows, ``"full"``, or ``{ per_class = K }``."""
    out: list[TrainSize] = []
    for i, value in enumerate(raw):
        where = f"train_sizes[{i}]"
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"per_class"})
            if unknown:
                close = suggest(unknown[0], ["per_class"])
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                problems.append(f"{where}: unknown key {unknown[0]!r}.{hint} A per-class size is "
                                f"{{ per_class = K }} (K training rows of every class)")
                continue
            k = value.get("per_class")
            if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
                problems.append(f"{where}.per_class: a positive whole number of rows per class expected, "
                                f"got {k!r}")
                continue
            out.append(PerClass(per_class=k))
        elif value == "full" or (isinstance(value, int) and not isinstance(value, bool)):
            out.append(value)
        else:
            problems.append(f"{where}: a number of training rows, \"full\" or {{ per_class = K }} expected, "
                            f"got {value!r}")
    rows = [s for s in out if isinstance(s, int)]
    if any(s <= 0 for s in rows) or len(set(map(str, out))) != len(out):
        problems.append(f"train_sizes: positive, distinct sizes (and \"full\") expected, got "
                        f"{[str(s) if isinstance(s, PerClass) else s for s in out]}")
    return out


def _subsets(given: int | None, sizes: Sequence[TrainSize] | None, tasks: Sequence[Component]) -> int:
    """The suite's ``subsets``, else :data:`DEFAULT_PER_CLASS_SUBSETS` when a training size or a
    task's options are per class, else 1 (no subset axis)."""
    if given is not None:
        return given
    per_class = any(isinstance(s, PerClass) for s in sizes or ()) or any(
        getattr(t.options, "train_per_class", None) is not None for t in tasks)
    return DEFAULT_PER_CLASS_SUBSETS if per_class else 1


def _same_twice(section: str, comps: list[Component | None], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for c in comps:
        if c is None:
            continue
        key = repr(c.resolved())
        if key in seen:
            noun = "task" if section == "tasks" else "strategy"
            problems.append(f"{section}.{c.label}: the same {noun} as {section}.{seen[key]} "
                            f"({c.name} with identical options): each would produce the same cells")
        seen.setdefault(key, c.label)


def _data_origin(suite_value: str | None) -> str:
    return f"${DATA_ENV}" if os.environ.get(DATA_ENV) else f"data_dir = {suite_value!r} in the suite"


def _data_dir(suite_value: str | None, suite_path: Path, problems: list[str]) -> Path | None:
    """``$TLBENCH_DATA_DIR`` (this machine's mirror) wins over the suite's ``data_dir``."""
    env = os.environ.get(DATA_ENV)
    if env:
        d = Path(env).expanduser()
    elif suite_value:
        d = Path(suite_value).expanduser()
        d = d if d.is_absolute() else suite_path.parent / d
    else:
        return None
    if not d.is_dir():
        problems.append(f"data_dir: {d} is not a directory (from {_data_origin(suite_value)})")
    return d.resolve()
