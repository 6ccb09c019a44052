"""``tlbench``: run | validate | report | plugins. A thin typer + rich front end.

Heavy modules (torch, optuna, the engine) are imported inside the commands that need them, so
``tlbench --help`` and ``tlbench validate`` start fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tlbench.errors import TlbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Which way of transferring a pretrained encoder works best on your tasks, "
                       "and at what cost.")
console = Console(soft_wrap=True)  # messages hold paths and URLs: never break them
err = Console(stderr=True, soft_wrap=True)

SuiteArg = Annotated[Path, typer.Argument(help="suite file, e.g. suites/glue_small.toml")]
Strict = Annotated[bool, typer.Option("--strict", help="a plugin that fails to load is fatal")]
Results = Annotated[Path | None, typer.Option(help="results folder [default: results/<suite>]")]
Storage = Annotated[str | None, typer.Option(
    help="Optuna storage URL [default: the suite's, else sqlite:///results/<suite>/tlbench.db]")]


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake: the message, no traceback, exit status 2. Anything else is a bug."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TlbenchError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None
    return wrapper


def _load(suite_path: Path, strict: bool) -> tuple[Any, Any, list[Any]]:
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins

    plugins = get_plugins(strict=strict)
    suite = load_suite(suite_path, plugins)
    return plugins, suite, build_grid(suite, plugins)


def _where(suite: Any, results: Path | None, storage: str | None) -> tuple[Path, str]:
    from tlbench.store import default_storage

    results_dir = results or Path("results") / suite.name
    return results_dir, storage or suite.storage or default_storage(results_dir)


@app.command()
@_user_errors
def validate(suite_path: SuiteArg, strict: Strict = False,
             show_plan: Annotated[bool, typer.Option("--plan", help="the work, per cell")] = False,
             ) -> None:
    """Check a suite (names, options, data files) without importing torch or touching the network."""
    plugins, suite, cells = _load(suite_path, strict)
    if show_plan:
        _print_plan(suite, cells, plugins)
        return
    table = Table(title=f"{suite.name}: {len(cells)} cells × {len(suite.seeds)} seeds = "
                        f"{len(cells) * len(suite.seeds)} runs")
    for col in ("cell", "model", "task", "strategy", "options"):
        table.add_column(col)
    for c in cells:
        opts = c.strategy_options.model_dump(exclude_unset=True)
        table.add_row(c.id, c.model, c.task, c.strategy, ", ".join(f"{k}={v}" for k, v in opts.items()))
    console.print(table)
    console.print(f"[green]ok[/]: {suite.path} is valid; data: {suite.data_dir or 'Hugging Face Hub'}")


@app.command()
@_user_errors
def verify(suite_path: SuiteArg, cell: Annotated[str, typer.Option(help="cell id (a unique prefix will do)")],
           seed: Annotated[int | None, typer.Option(help="which seed [default: the first stored]")] = None,
           storage: Storage = None, results: Results = None,
           device: Annotated[str, typer.Option(help="auto, cpu, cuda, ...")] = "auto",
           strict: Strict = False) -> None:
    """Rerun one cell's seed and say whether the new score falls inside the stored 95% interval."""
    from tlbench.runner import Runner
    from tlbench.verify import find_cell
    from tlbench.verify import verify as check

    plugins, suite, cells = _load(suite_path, strict)
    results_dir, url = _where(suite, results, storage)
    records, _ = _stored_records(suite, suite_path, results_dir, url)
    target = find_cell(cells, cell)
    # a real rerun: a multitask group trains again rather than reading its kept training
    v = check(target, records, Runner(suite, plugins, device=device, reuse_groups=False).execute, seed)
    where = (f"the stored 95% interval [{v.low:.4f}, {v.high:.4f}] over {v.n} seeds" if v.n > 1
             else "the stored score (one seed: no interval)")
    console.print(f"{target.strategy} × {target.task} ({v.variant}) seed {v.seed}: {v.metric} stored "
                  f"{v.stored:.4f}, now {v.now:.4f} (difference {v.now - v.stored:+.4f}); "
                  + ("[green]inside[/] " if v.inside else "[red]outside[/] ") + where)
    if not v.inside:
        raise typer.Exit(1)


def _print_plan(suite: Any, cells: list[Any], plugins: Any) -> None:
    from tlbench.plan import plan
    from tlbench.report import human_count

    plans = plan(suite, cells, plugins)
    table = Table(title=f"{suite.name}: the plan")
    for col in ("strategy", "task", "train rows", "epochs", "examples × epochs / run", "runs", "trials",
                "examples × epochs"):
        table.add_column(col, justify="left" if col in ("strategy", "task") else "right")
    for p in plans:
        table.add_row(p.strategy, p.task, "full Hub split" if p.train_rows is None else f"{p.train_rows:,}",
                      f"{p.epochs:g}", "?" if p.per_run is None else human_count(p.per_run), str(p.runs),
                      "by time" if p.trials is None else str(p.trials),
                      "?" if p.examples is None else human_count(p.examples))
    Console(width=max(console.width, 150)).print(table)  # a wide table: not squeezed into 80 columns
    runs = sum(p.runs for p in plans)
    trials = list({p.group or id(p): p.trials for p in plans}.values())  # a group's cells share trials
    known = [p.examples for p in plans if p.examples is not None]
    tuning = (f"tuning {suite.tuning.budget.describe()} per tunable cell" if suite.tuning else "no tuning")
    console.print(f"{len(cells)} cells × {len(suite.seeds)} seeds; {tuning}: {runs} runs "
                  f"(default and tuned) and {sum(t or 0 for t in trials)} trials"
                  f"{' (plus time-budgeted cells)' if None in trials else ''}; about "
                  f"{human_count(sum(known))} training examples × epochs"
                  f"{' (cells with unknown sizes not counted)' if len(known) < len(plans) else ''}. "
                  "A frozen-feature strategy's epochs run over cached features: its encoder work is one "
                  "pass over each split per task, shared by its seeds and trials."
                  + (" A multitask group trains once per seed and trial for all its tasks (its trials "
                     "are counted once)." if any(p.group for p in plans) else ""))


class RichProgress:
    """The engine's progress sink, drawn with rich (one transient bar per training or extraction)."""

    def __init__(self, progress: Any):
        self.progress = progress

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        task_id = self.progress.add_task(f"  {description}", total=total)
        try:
            yield lambda n: self.progress.advance(task_id, n)
        finally:
            self.progress.remove_task(task_id)


def _open(suite: Any, url: str) -> tuple[Any, Any]:
    """The store and (when the suite tunes) the tuner, on the suite's storage."""
    from tlbench.store import Store

    store = Store(url, suite.name, heartbeat_seconds=suite.heartbeat_seconds, max_retries=suite.max_retries)
    if suite.tuning is None:
        return store, None
    from tlbench.tuning import Tuner

    return store, Tuner(store, suite.tuning, suite.seeds)


def _work_units(cells: list[Any], suite: Any, store: Any, tuner: Any) -> tuple[int | None, int]:
    """(total, done) pieces of work: default runs, tuning trials (with a trial budget), tuned runs."""
    counts = store.counts()
    done = counts.get("COMPLETE", 0) + counts.get("FAIL", 0)
    tunable = [c for c in cells if tuner and tuner.tunable(c)]
    runs = sum(len(c.seeds) for c in cells) + sum(len(c.seeds) for c in tunable)
    if not tunable:
        return runs, done
    trials = suite.tuning.budget.trials
    for c in tunable:
        st = tuner.state(c)
        done += st.counted - st.live
    return (runs + trials * len(tunable) if trials else None), done


@app.command()
@_user_errors
def run(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
        retry_failed: Annotated[bool, typer.Option(
            "--retry-failed", help="run failed runs and tuning trials again")] = False,
        strict: Strict = False) -> None:
    """Work on a suite until it is complete: default runs, tuning trials, then tuned runs.

    Start it on several machines (or several times on one) with the same storage: the workers
    share the grid with no duplicated work; a worker that dies is detected by its heartbeat and
    its run is retried by another. Finished work is never redone.
    """
    import os
    import socket

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tlbench.runner import Runner
    from tlbench.store import export_jsonl, safe_url
    from tlbench.worker import Worker

    plugins, suite, cells = _load(suite_path, strict)
    results_dir, url = _where(suite, results, storage)
    store, tuner = _open(suite, url)
    total, done = _work_units(cells, suite, store, tuner)
    tuning = (f"tuning: {suite.tuning.budget.describe()} per cell, {suite.tuning.pruner} pruner"
              if suite.tuning else "no tuning (defaults only)")
    console.print(f"[bold]{suite.name}[/]: {len(cells)} cells × {len(suite.seeds)} seeds; {tuning}. "
                  f"{done} of {total or '?'} pieces of work already done. Worker "
                  f"{socket.gethostname()}:{os.getpid()}; storage {safe_url(url)}")
    started, outcomes = time.perf_counter(), []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as bar:
            runner = Runner(suite, plugins, device=device, progress=RichProgress(bar))
            grid = bar.add_task("grid", total=total, completed=done)

            def shown(outcome: Any) -> None:
                outcomes.append(outcome)
                bar.console.print(_outcome_line(outcome.kind, outcome.record))
                bar.update(grid, completed=_work_units(cells, suite, store, tuner)[1])

            worker = Worker(suite, cells, store, runner.execute, tuner=tuner, retry_failed=retry_failed,
                            on_outcome=shown)
            worker.run()
    except KeyboardInterrupt:
        export_jsonl(store.records(), results_dir / "runs.jsonl")
        err.print(f"[yellow]interrupted[/]: {len(outcomes)} runs and trials of this session are saved in "
                  f"{safe_url(url)}; the one in progress was dropped. Rerun the same command to continue.")
        raise typer.Exit(130) from None
    records = store.records()
    export_jsonl(records, results_dir / "runs.jsonl")
    console.print(_summary(records, suite.name))
    failed = sum(o.record.get("status") == "failed" for o in outcomes)
    console.print(f"[bold]done[/] in {time.perf_counter() - started:.0f} s: {len(outcomes)} runs and trials "
                  f"by this worker, {failed} failed. Next: [cyan]tlbench report {suite_path}[/]")
    in_grid = {r["run_id"] for r in records if r["status"] != "ok"} - {r["run_id"] for r in records
                                                                       if r["status"] == "ok"}
    if in_grid:
        console.print(f"[yellow]{len(in_grid)} runs of the grid failed[/]; they stay failed until "
                      f"[cyan]tlbench run --retry-failed {suite_path}[/]")
    if failed:
        raise typer.Exit(1)


@app.command()
@_user_errors
def status(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
           strict: Strict = False) -> None:
    """Coverage of a suite: per cell, trials done, failed and running (worker, heartbeat age), seeds done."""
    from tlbench.store import safe_url

    _, suite, cells = _load(suite_path, strict)
    _, url = _where(suite, results, storage)
    store, tuner = _open(suite, url)
    console.print(_status_table(cells, suite, store, tuner))
    total, done = _work_units(cells, suite, store, tuner)
    console.print(f"{done} of {total or '?'} pieces of work done; storage {safe_url(url)}")


def _status_table(cells: list[Any], suite: Any, store: Any, tuner: Any) -> Table:
    from tlbench.store import SPEC_ATTR

    ages = store.heartbeat_ages()
    by_cell: dict[str, list[Any]] = {}
    for t in store.study.get_trials(deepcopy=False):
        spec = t.user_attrs.get(SPEC_ATTR)
        if spec and not t.user_attrs.get("skipped"):
            by_cell.setdefault(spec.get("cell_id", ""), []).append(t)
    table = Table(title=f"{suite.name}: coverage")
    for col in ("strategy", "task", "trials done / budget", "failed", "running (worker, heartbeat)",
                "default seeds", "tuned seeds"):
        table.add_column(col)
    for c in cells:
        runs = by_cell.get(c.id, [])

        def seeds(variant: str, runs: list[Any] = runs, c: Any = c) -> str:
            ok = {t.user_attrs[SPEC_ATTR]["seed"] for t in runs
                  if t.state.name == "COMPLETE" and t.user_attrs[SPEC_ATTR]["variant"] == variant}
            bad = {t.user_attrs[SPEC_ATTR]["seed"] for t in runs
                   if t.state.name == "FAIL" and t.user_attrs[SPEC_ATTR]["variant"] == variant} - ok
            return f"{len(ok)}/{len(c.seeds)}" + (f" ([red]{len(bad)} failed[/])" if bad else "")

        running = [t for t in runs if t.state.name == "RUNNING"]
        trials, failed = "–", sum(t.state.name == "FAIL" and "record" in t.user_attrs for t in runs)
        if tuner and tuner.tunable(c):
            st = tuner.state(c)
            budget = suite.tuning.budget
            trials = (f"{st.counted - st.live}/{budget.trials}" if budget.trials
                      else f"{st.seconds:.0f}/{budget.seconds:g} s")
            failed += st.failed
            running += [t for t in tuner.trials(c) if t.state.name == "RUNNING"]
        shown = ", ".join(f"{t.user_attrs.get('worker', '?')} ({_age(ages.get(t._trial_id))})"
                          for t in running)
        table.add_row(c.strategy, c.task, trials, str(failed), shown or "–", seeds("default"),
                      seeds("tuned") if tuner and tuner.tunable(c) else "= default")
    return table


def _age(seconds: float | None) -> str:
    return "no heartbeat" if seconds is None else f"{seconds:.0f} s ago"


def _summary(records: list[dict[str, Any]], suite: str) -> Table:
    """Mean ± sd of the primary metric per strategy and task, over every finished seed."""
    from tlbench.report import cells, mean_sd

    by_cell = cells(records)
    tasks = list(dict.fromkeys(t for _, t in by_cell))
    table = Table(title=f"{suite}: reported score, mean ± sd over seeds")
    table.add_column("strategy")
    for t in tasks:
        table.add_column(t, justify="right")
    for s in dict.fromkeys(s for s, _ in by_cell):
        table.add_row(s, *[mean_sd([r["metrics"]["report"][r["primary_metric"]]
                                    for r in by_cell.get((s, t), [])]) for t in tasks])
    return table


def _stored_records(suite: Any, suite_path: Path, results_dir: Path, url: str,
                    export: bool = False) -> tuple[list[dict[str, Any]], str]:
    """The suite's records and where they came from: the storage (exported to runs.jsonl when
    ``export``), else, when an SQLite storage is absent, the committed runs.jsonl."""
    from tlbench.store import Store, export_jsonl, read_jsonl, safe_url

    jsonl = results_dir / "runs.jsonl"
    db_missing = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
    if db_missing and jsonl.exists():
        return read_jsonl(jsonl), str(jsonl)
    if db_missing:
        raise TlbenchError(f"no records for {suite.name}: neither {url} nor {jsonl} exists; "
                           f"run `tlbench run {suite_path}` first")
    records = Store(url, suite.name).records()
    if export:
        export_jsonl(records, jsonl)
    return records, safe_url(url)


def _current(records: list[dict[str, Any]], suite: Any, plugins: Any) -> list[dict[str, Any]]:
    """The records of the suite as it is now: its cells, and their tuned runs from its current tuning
    (a changed option or search space leaves the old runs in the storage, not in the leaderboard)."""
    from tlbench.grid import build_grid

    cells = {c.id: c for c in build_grid(suite, plugins)}
    tuned = {i: f"{i}-tuned{c.tuning_key(suite.tuning)}-" for i, c in cells.items()} if suite.tuning else {}
    return [r for r in records if r.get("cell_id") in cells
            and (r.get("variant") != "tuned" or r["run_id"].startswith(tuned.get(r["cell_id"], "\0")))]


def _outcome_line(kind: str, record: dict[str, Any]) -> str:
    from rich.markup import escape

    variant = record.get("variant", "default")
    trial = record.get("run_id", "").split("-trial")[-1].split("-")[0]
    what = f"trial {trial}" if kind == "trial" else variant
    where = f"{record['strategy']} × {record['task']} {what} seed {record['seed']}"
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in (record.get("tuned_params") or {}).items())
    params = escape(f" [{params}]") if params and kind == "trial" else ""  # not rich markup
    if record["status"] == "pruned":
        return f"  [yellow]-[/] {where}{params}: {record['error']}"
    if record["status"] != "ok":
        return f"  [red]✗[/] {where}{params}: {record['error'].strip().splitlines()[-1]}"
    split = "select" if kind == "trial" else "report"
    score = record["metrics"][split][record["primary_metric"]]
    return (f"  [green]✓[/] {where}{params}: {split} {record['primary_metric']} {score:.4f} "
            f"({record['cost']['train_seconds']:.1f} s training)")


@app.command()
@_user_errors
def report(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
           strict: Strict = False) -> None:
    """Write results/<suite>/LEADERBOARD.md from the records (the database, else runs.jsonl)."""
    from tlbench.config import load_suite
    from tlbench.plugins import get_plugins
    from tlbench.report import write_report

    plugins = get_plugins(strict=strict)
    suite = load_suite(suite_path, plugins, check_data=False)
    results_dir, url = _where(suite, results, storage)
    records, source = _stored_records(suite, suite_path, results_dir, url, export=True)
    current = _current(records, suite, plugins)
    if len(current) < len(records):
        console.print(f"{len(records) - len(current)} records of cells or tunings no longer in {suite_path} "
                      f"are kept in the storage and runs.jsonl, and left out of the leaderboard")
    written = write_report(current, suite.name, results_dir, baseline=suite.baseline)
    also = ", ".join(p.name for p in written[1:]) or "nothing else"
    console.print(f"wrote [bold]{written[0]}[/] (and {also}) from {len(records)} records ({source})")


@app.command()
@_user_errors
def plugins(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
            strict: Strict = False) -> None:
    """List registered strategies and tasks, their distributions, and plugins that failed."""
    from tlbench.plugins import get_plugins

    rows = get_plugins(strict=strict).listing()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table()
    for col in ("name", "kind", "distribution", "version"):
        table.add_column(col, no_wrap=True)
    table.add_column("status")
    table.add_column("description")
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]: {r['error']}"
        table.add_row(r["name"], r["kind"], r["distribution"], r["version"], status, r["description"])
    console.print(table)


def main() -> None:
    app()
