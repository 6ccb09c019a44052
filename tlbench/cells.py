"""The resolution of one (strategy, task, model) cell of a validated :class:`Suite`.

A cell's merged options (the strategy's and task's tables after the matching ``[[overrides]]``, in file
order), the task group a strategy trains together, its search space (declared by the strategy, changed
by the suite), and the compatibility problems :func:`tlbench.config.load_suite` reports for every cell
(a strategy that cannot serve a task's head, a group given different options, a bad search space).
``grid`` builds cells from these; nothing here imports torch or touches the network.
"""

from __future__ import annotations

from typing import Any

from tlbench.config import Component, Suite, merge_options
from tlbench.interfaces import Options
from tlbench.plugins import Plugins


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
    return s_opts, t_opts


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
    for model in suite.models:
        for t in suite.tasks:
            for s in suite.strategies:
                s_opts, t_opts = merged_options(suite, plugins, s, t, model)
                head = plugins.tasks.get(t.name).factory(t.name, t_opts).head
                try:
                    strategy = plugins.strategies.get(s.name).factory(s.name, s_opts)
                except Exception:  # noqa: BLE001 - a plugin's broken factory fails its own cells, at run
                    continue  # time, with the error in their records; the other cells go on
                why = strategy.problem(head)
                if why:
                    problems.append(f"strategies.{s.label} on tasks.{t.label}: {why} (set a per-cell option "
                                    f"in [[overrides]] with strategy = {s.label!r}, task = {t.label!r})")
    return list(dict.fromkeys(problems))


def _bad_spaces(suite: Suite, plugins: Plugins) -> list[str]:
    """Search-space problems, per strategy and (when overrides change its options) per cell."""
    problems = []
    for model in suite.models:
        for t in suite.tasks:
            for s in suite.strategies:
                problems += cell_space(suite, plugins, s, t, model)[1]
    return list(dict.fromkeys(problems))


def cell_problems(suite: Suite, plugins: Plugins) -> list[str]:
    """Every cell's problems (incompatible heads, a group given different options, bad spaces)."""
    return _incompatible(suite, plugins) + _bad_spaces(suite, plugins)
