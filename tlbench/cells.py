"""The resolution of one (strategy, task, model) cell of a validated :class:`Suite`.

A cell's merged options (the strategy's and task's tables after the matching ``[[overrides]]``, in file
order), the task group a strategy trains together, its search space (declared by the strategy, changed
by the suite), and the compatibility problems :func:`tlbench.config.load_suite` reports for every cell
(a strategy that cannot serve a task's head, a group given different options, a bad search space).
``grid`` builds cells from these; nothing here imports torch or touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tlbench.config import Component, Suite, merge_options
from tlbench.interfaces import Options
from tlbench.model_facts import ModelFacts
from tlbench.plugins import Plugins
from tlbench.record import PerClass, TrainSize


def merged_options(suite: Suite, plugins: Plugins, strategy: Component, task: Component,
                   model: str) -> tuple[Options, Options]:
    """A cell's strategy and task options after the matching overrides, in file order."""
    s_extra: dict[str, Any] = {}
    t_extra: dict[str, Any] = {}
    for o in suite.overrides:
        if o.matches(strategy.label, task.label, model):
            s_extra.update(o.options)
            t_extra.update(o.task_options)
    context = {"plugins": plugins}
    s_opts = merge_options(strategy, plugins.strategies, s_extra, context) if s_extra else strategy.options
    t_opts = merge_options(task, plugins.tasks, t_extra, context) if t_extra else task.options
    return with_training(suite, strategy, s_opts, context), t_opts


def with_training(suite: Suite, strategy: Component, options: Options,
                  context: dict[str, Any] | None = None) -> Options:
    """``options`` with the suite's ``[training]`` table applied (budget, checkpoint), for an engine
    strategy that is not exempt; other options unchanged (:func:`training_problems` refuses them)."""
    from tlbench.engine.options import EngineOptions

    training = suite.training
    if training is None or strategy.label in training.exempt or not isinstance(options, EngineOptions):
        return options
    return type(options).model_validate(
        {**options.model_dump(exclude_unset=True), **training.options(options.batch_size)}, context=context)


#: the options a [training] key sets, which a strategy table, override or search space may not set too
_TRAINING_KEYS = {"budget": ("epochs", "max_steps"), "checkpoint": ("checkpoint", "early_stopping_patience")}


def training_problems(suite: Suite, plugins: Plugins) -> list[str]:
    """Why the suite's ``[training]`` table cannot apply: an exempt label that is not a strategy; a
    strategy that does not train with the engine (its options are not ``EngineOptions``) or trains
    nothing (its class's ``untrained(options)`` says so, like the probe's kNN head); a key the
    table sets that the strategy sets too (its table, an override or its search space); options the
    result refuses (checkpoint = best with no evaluation)."""
    from pydantic import ValidationError

    from tlbench.config import _errors
    from tlbench.engine.options import EngineOptions

    training = suite.training
    if training is None:
        return []
    labels = [s.label for s in suite.strategies]
    problems = [f"training.exempt: {x!r} is not a strategy of this suite. Strategies: {', '.join(labels)}."
                for x in training.exempt if x not in labels]
    keys = [k for k in ("budget", "checkpoint") if getattr(training, k) is not None]
    for s in suite.strategies:
        if s.label in training.exempt:
            continue
        fix = f"list {s.label!r} in training.exempt (it then keeps its own training options)"
        factory = plugins.strategies.get(s.name).factory
        key = f"training.{keys[0]}"
        if not issubclass(factory.Options, EngineOptions):
            problems.append(f"{key}: strategies.{s.label} ({s.name}) does not train with the engine and "
                            f"declares no training budget or checkpoint option; remove the strategy, "
                            f"or {fix}")
            continue
        overrides = [o for o in suite.overrides if o.strategy in (None, s.label)]
        untrained = getattr(factory, "untrained", None)
        for options in [s.options, *(merge_options(s, plugins.strategies, o.options, {"plugins": plugins})
                                     for o in overrides if o.options)]:
            if callable(untrained) and untrained(options):
                problems.append(f"{key}: strategies.{s.label} ({s.name}) trains nothing with these options "
                                f"(head = {getattr(options, 'head', '?')!r}); {fix}")
                break
        declared = getattr(factory, "search_space", {})
        space = set(declared(s.options) if callable(declared) else declared)
        space = (space | set(s.search_space)) - {k for k, v in s.search_space.items() if v is False}
        for k in keys:
            for name in _TRAINING_KEYS[k]:
                where = [f"strategies.{s.label}.{name}"] if name in s.options.model_fields_set else []
                where += [f"overrides[{suite.overrides.index(o)}].options.{name}" for o in overrides
                          if name in o.options]
                where += [f"the search space of strategies.{s.label} ({name})"] if name in space else []
                problems += [f"{w}: set by training.{k} for every strategy; remove it here, or {fix}"
                             for w in where]
        if training.budget is not None and getattr(s.options, "steps", "matched") != "matched":
            problems.append(f"strategies.{s.label}.steps: {s.options.steps} steps, but training.budget sets "  # type: ignore[attr-defined]
                            f"every strategy's; use steps = \"matched\" (the single-task runs' sum) or {fix}")
        if training.checkpoint == "last" and getattr(s.options, "selection", None) == "per_task":
            problems.append(f"strategies.{s.label}.selection: per_task keeps each task's best checkpoint, "
                            f"but training.checkpoint = \"last\"; use selection = \"mean\" or {fix}")
    if problems:
        return list(dict.fromkeys(problems))
    for s in suite.strategies:  # what the table makes of each cell's options
        for model in suite.models:
            for t in suite.tasks:
                try:
                    merged_options(suite, plugins, s, t, model)
                except ValidationError as exc:
                    model_cls = plugins.strategies.get(s.name).factory.Options
                    described = _errors(exc, f"strategies.{s.label}", model_cls)
                    problems += [f"training: strategies.{s.label}: {e['msg'].removeprefix('Value error, ')}"
                                 if e["type"] == "value_error" else f"training: {m}"
                                 for e, m in zip(exc.errors(), described, strict=True)]
    return list(dict.fromkeys(problems))


def at_size(options: Any, size: TrainSize | None, subset: int = 0) -> Any:
    """A task's options at one ``train_sizes`` value (rows, ``"full"`` or per class) and training
    subset (``TaskOptions.train_subset``); ``options`` themselves for no size and subset 0. The
    options' private state (a declared task's suite folder and label) is kept."""
    changes: dict[str, Any] = {}
    if isinstance(size, PerClass):
        changes = {"train_per_class": size.per_class, "max_train_examples": None}
    elif size is not None:
        changes = {"max_train_examples": None if size == "full" else size, "train_per_class": None}
    if subset:
        changes["train_subset"] = subset
    if not changes:
        return options
    out = type(options).model_validate({**options.model_dump(exclude_unset=True), **changes})
    for key, value in (options.__pydantic_private__ or {}).items():
        setattr(out, key, value)
    return out


def subsets_of(suite: Suite, options: Any) -> int:
    """How many training subsets a cell with these (sized) task options has: the suite's
    ``subsets`` where its training rows are a seeded draw (a cap or a per-class size), else 1 (the
    whole training split: every draw would be the same rows)."""
    draws = getattr(options, "draws_training_rows", None)
    return suite.subsets if callable(draws) and draws() else 1


def sampling_problems(suite: Suite, plugins: Plugins) -> list[str]:
    """Training draws a task cannot make (``Task.sampling_problem``: a per-class size on a task
    without classes, subsets of a task that ignores them), and a ``subsets`` axis with nothing to
    draw (every size "full" and no task capped)."""
    problems: list[str] = []
    drawn = False
    for t, factory, size, sized in _sized_tasks(suite, plugins):
        n = subsets_of(suite, sized)
        drawn = drawn or n > 1
        why = factory(t.name, at_size(sized, None, 1 if n > 1 else 0)).sampling_problem()
        if why:
            at = f" at train_sizes {_shown(size)}" if size is not None else ""
            problems.append(f"tasks.{t.label}{at}: {why}")
    if suite.subsets > 1 and not drawn:
        problems.append(f"subsets: {suite.subsets} draws of the training rows, but no cell draws them (every "
                        f"training size is \"full\" and no task sets max_train_examples or train_per_class): "
                        f"each subset would train on the same rows. Give train_sizes below \"full\" or "
                        f"remove subsets")
    return list(dict.fromkeys(problems))


def class_count_problems(suite: Suite, plugins: Plugins) -> list[str]:
    """A per-class size above what a class of a task's training split has (after the selection rows
    are carved off), naming the class and its count: from the label column alone, for tasks that
    can count it (``train_class_counts``: mirror and declared files), else the run finds it when it
    loads the data (the run fails with the same message and the grid goes on)."""
    from tlbench.errors import DataError

    problems: list[str] = []
    for t, factory, size, sized in _sized_tasks(suite, plugins):
        k = getattr(sized, "train_per_class", None)
        if k is None:
            continue
        task = factory(t.name, sized)
        count = getattr(task, "train_class_counts", None)
        try:
            counts = count(suite.data_dir) if callable(count) else None
        except (DataError, OSError, ValueError):  # a broken file: the run's loading says so
            counts = None
        short = {c: n for c, n in (counts or {}).items() if n < k}
        if short:
            at = f" at train_sizes {_shown(size)}" if size is not None else ""
            listed = ", ".join(f"class {c!r} has {n}" for c, n in short.items())
            problems.append(f"tasks.{t.label}{at}: per_class = {k} needs {k} training rows of "
                            f"every class, but {listed} (training rows left after carving the "
                            f"selection rows); the most every class has is "
                            f"{min((counts or {}).values())}")
    return list(dict.fromkeys(problems))


def _sized_tasks(suite: Suite, plugins: Plugins) -> Iterator[tuple[Any, Any, TrainSize | None, Any]]:
    """Every (task component, its factory, training size, its options at that size) of the grid's
    cells: model x task x strategy x size, the task's options merged as the cell has them."""
    for model in suite.models:
        for t in suite.tasks:
            factory = plugins.tasks.get(t.name).factory
            for s in suite.strategies:
                _, t_opts = merged_options(suite, plugins, s, t, model)
                for size in suite.train_sizes or (None,):
                    yield t, factory, size, at_size(t_opts, size)


def _shown(size: TrainSize) -> str:
    return f"{{ per_class = {size.per_class} }}" if isinstance(size, PerClass) else repr(size)


def task_group(suite: Suite, plugins: Plugins, strategy: Component,
               options: Options) -> tuple[str, ...] | None:
    """The task labels a strategy trains together in this suite (None: one task at a time)."""
    factory = plugins.strategies.get(strategy.name).factory
    return factory.task_group(options, tuple(t.label for t in suite.tasks))


def cell_space(suite: Suite, plugins: Plugins, strategy: Component, task: Component,
               model: str) -> tuple[dict[str, Any], list[str]]:
    """The cell's search space (declared by the strategy, changed by the suite) and its problems."""
    from tlbench.space import resolve_space

    s_opts, _ = merged_options(suite, plugins, strategy, task, model)
    declared = getattr(plugins.strategies.get(strategy.name).factory, "search_space", {})
    if callable(declared):  # a space that depends on the options (e.g. the probe's head)
        declared = declared(s_opts)
    return resolve_space(declared, strategy.search_space, s_opts,
                         f"strategies.{strategy.label}.search_space")


def _incompatible(suite: Suite, plugins: Plugins) -> list[str]:
    """Cells whose strategy (with its merged options) cannot serve the task's head."""
    problems = []
    for s in suite.strategies:
        try:
            group = task_group(suite, plugins, s, s.options)
        except ValueError as exc:
            problems.append(f"strategies.{s.label}: {exc}")
            continue
        if not group:
            continue
        if skipped := [t for t in group for m in suite.models if suite.skips(s.label, t, m)]:
            problems.append(f"strategies.{s.label} trains {', '.join(group)} together, but [[overrides]] "
                            f"skip it on {', '.join(dict.fromkeys(skipped))}: name the tasks it trains in "
                            f"its own options instead")
            continue
        for model in suite.models:
            by_task = {t.label: merged_options(suite, plugins, s, t, model)[0].model_dump_json()
                       for t in suite.tasks if t.label in group}
            if len(set(by_task.values())) > 1:
                changed = sorted(t for t, o in by_task.items() if o != s.options.model_dump_json())
                problems.append(
                    f"strategies.{s.label} trains {', '.join(group)} together with one set of options, "
                    f"but [[overrides]] give it different options for some of them "
                    f"({', '.join(changed)}): set them in "
                    f"[strategies.{s.label}], or use task_options to change a task")
    for i, model in enumerate(suite.models):
        facts = model_facts(model, plugins, suite.path.parent)
        for t in suite.tasks:
            for s in suite.strategies:
                if suite.skips(s.label, t.label, model):
                    continue
                s_opts, t_opts = merged_options(suite, plugins, s, t, model)
                head = plugins.tasks.get(t.name).factory(t.name, t_opts).head
                try:
                    strategy = plugins.strategies.get(s.name).factory(s.name, s_opts)
                except Exception:  # noqa: BLE001 - a plugin's broken factory fails its own cells, at run
                    continue  # time, with the error in their records; the other cells go on
                why = strategy.problem(head)
                if why:
                    problems.append(f"strategies.{s.label} on tasks.{t.label}: {why} (set a per-cell option "
                                    f"in [[overrides]] with strategy = {s.label!r}, task = {t.label!r}, "
                                    f"or skip = true there to leave the cell out)")
                if facts is not None and (why := strategy.model_problem(facts)):
                    problems.append(f"strategies.{s.label} with models[{i}] {model!r}: {why}")
    return list(dict.fromkeys(problems))


def model_facts(model: str, plugins: Plugins, suite_dir: Path | None = None) -> ModelFacts | None:
    """What ``model``'s config.json says, found as the runner finds the model (a plugin, a local
    directory, the Hugging Face cache) without the network; None when no config.json is at hand
    (the model checks report a model that cannot be found)."""
    from tlbench.model_checks import resolve

    try:
        found = resolve(model, plugins, suite_dir)
    except Exception:  # noqa: BLE001 - a resolver that raises: model_problems reports it
        return None
    return ModelFacts.read(model, found.path)


def _bad_spaces(suite: Suite, plugins: Plugins) -> list[str]:
    """Search-space problems, per strategy and (when overrides change its options) per cell."""
    problems = []
    for model in suite.models:
        for t in suite.tasks:
            for s in suite.strategies:
                problems += cell_space(suite, plugins, s, t, model)[1]
    return list(dict.fromkeys(problems))


def cell_problems(suite: Suite, plugins: Plugins) -> list[str]:
    """Every cell's problems (the suite's [training] table first: the other checks build cells with
    it; then incompatible heads, a group given different options, bad spaces, training draws a task
    cannot make)."""
    return training_problems(suite, plugins) or (_incompatible(suite, plugins) + _bad_spaces(suite, plugins)
                                                 + sampling_problems(suite, plugins))
