"""``tlbench``: run | status | validate | verify | report | plugins. Commands and rendering only.

Heavy modules (torch, optuna, the engine) are imported inside the commands that need them, so
``tlbench --help`` and ``tlbench validate`` start fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
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
            from rich.markup import escape

            # the message is the user's and the plugins' text: "[[overrides]]" must print as written
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None
    return wrapper


def _load(suite_path: Path, strict: bool, check_hub: bool = True) -> tuple[Any, Any, list[Any]]:
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins

    plugins = get_plugins(strict=strict)
    for failed in plugins.failures():  # listed, not fatal (--strict makes them fatal)
        err.print(f"warning: plugin {failed.name} ({failed.distribution}) failed and is skipped: "
                  f"{failed.error} (see `tlbench plugins`; --strict makes this an error)",
                  markup=False, highlight=False)
    suite = load_suite(suite_path, plugins, check_hub=check_hub)
    return plugins, suite, build_grid(suite, plugins)


def _where(suite: Any, results: Path | None, storage: str | None) -> tuple[Path, str]:
    from tlbench.storage import default_storage

    results_dir = results or Path("results") / suite.name
    return results_dir, storage or suite.storage or default_storage(results_dir)


@app.command()
@_user_errors
def validate(suite_path: SuiteArg, strict: Strict = False,
             show_plan: Annotated[bool, typer.Option("--plan", help="the work, per cell")] = False,
             ) -> None:
    """Check a suite (names, options, data files, models' files) without importing torch: the network
    only to ask the Hub, once, about a model found nowhere locally (not when HF_HUB_OFFLINE=1)."""
    plugins, suite, cells = _load(suite_path, strict)
    if show_plan:
        from tlbench.plan import print_plan

        print_plan(console, suite, cells, plugins)
        return
    table = Table(title=f"{suite.name}: {len(cells)} cells × {len(suite.seeds)} seeds = "
                        f"{len(cells) * len(suite.seeds)} runs")
    for col in ("cell", "model", "task", "strategy", "options"):
        table.add_column(col)
    for c in cells:
        opts = c.strategy_options.model_dump(exclude_unset=True)
        table.add_row(c.id, c.model, c.where, c.strategy, ", ".join(f"{k}={v}" for k, v in opts.items()))
    console.print(table)
    console.print(f"[green]ok[/]: {suite.path} is valid; data: {suite.data_dir or 'Hugging Face Hub'}")


@app.command()
@_user_errors
def verify(suite_path: SuiteArg, cell: Annotated[str, typer.Option(help="cell id (a unique prefix will do)")],
           seed: Annotated[int | None, typer.Option(
               help="a stored seed is reproduced, a new one trained [default: the first stored]")] = None,
           tolerance: Annotated[float | None, typer.Option(
               help="absolute tolerance of a same-seed rerun, in the metric's units [default: per device, "
                    "tlbench.verify.DEFAULT_TOLERANCE]")] = None,
           storage: Storage = None, results: Results = None,
           device: Annotated[str, typer.Option(help="auto, cpu, cuda, ...")] = "auto",
           strict: Strict = False) -> None:
    """Rerun one cell's seed: a stored seed must reproduce its stored score within a tolerance, a new
    seed must fall inside the 95% prediction interval over the stored seeds.

    Exit status 0 when it does, 1 when it does not, 3 when there is nothing to check against (a new
    seed with fewer than two stored seeds, or stored seeds that all score the same).
    """
    from tlbench.records import current, stored_records
    from tlbench.runner import Runner
    from tlbench.verify import find_cell
    from tlbench.verify import verify as check

    plugins, suite, cells = _load(suite_path, strict)
    results_dir, url = _where(suite, results, storage)
    records, _ = stored_records(suite, suite_path, results_dir, url, plugins)
    target = find_cell(cells, cell)
    records = current(records, cells, suite.tuning)  # not a tuned run of an older tuning
    # a real rerun: a multitask group trains again rather than reading its kept training
    v = check(target, records, Runner(suite, plugins, device=device).execute, seed, tolerance)
    head = f"{target.strategy} × {target.task} ({v.variant}) seed {v.seed}"
    scale = (f"{v.delta_sd:.2g} sd of {v.n} seeds" if v.delta_sd is not None
             else "sd unknown" if v.n < 2 else f"sd 0 over {v.n} seeds")
    if v.stored is not None:
        kinds = "/".join(dict.fromkeys((v.stored_device or "?", v.now_device)))
        tol = f"tolerance {v.tolerance:g}, " + ("given" if tolerance is not None else f"declared for {kinds}")
        verdict = "[green]matches[/] the stored run" if v.passed else "[red]differs from[/] the stored run"
        console.print(f"{head}: {v.metric} stored {v.stored:.4f}, now {v.now:.4f}; |Δ| {v.delta:.3g} "
                      f"({scale}); {verdict} ({tol})")
    elif v.interval is not None:
        low, high = v.interval
        verdict = "[green]inside[/]" if v.passed else "[red]outside[/]"
        console.print(f"{head} (a new seed): {v.metric} now {v.now:.4f}; {v.n} stored seeds: mean "
                      f"{v.mean:.4f}, sd {v.sd:.4f}; |Δ| from their mean {v.delta:.3g} ({scale}); "
                      f"{verdict} the 95% prediction interval [{low:.4f}, {high:.4f}] of a new seed")
    else:
        why = (f"one stored seed ({v.mean:.4f})" if v.n < 2
               else f"the {v.n} stored seeds all score {v.mean:.4f}")
        console.print(f"{head} (a new seed): {v.metric} now {v.now:.4f}; {why}: no prediction interval; "
                      f"Δ = {v.now - v.mean:+.4f} ({scale}); [yellow]not checkable[/] (rerun a stored seed, "
                      f"or store more seeds)")
    if v.note:
        console.print(f"[yellow]note[/]: {v.note}")
    if not v.checkable:
        raise typer.Exit(3)
    if not v.passed:
        raise typer.Exit(1)


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

    from tlbench.model_checks import hub_problems
    from tlbench.progress import RichProgress, outcome_line, rich_bar, run_summary
    from tlbench.records import export_jsonl
    from tlbench.runner import Runner
    from tlbench.status import open_store, work_units
    from tlbench.storage import safe_url
    from tlbench.worker import Worker

    plugins, suite, cells = _load(suite_path, strict, check_hub=False)
    for problem in hub_problems([(f"models[{i}]", m) for i, m in enumerate(suite.models)], plugins,
                                suite.path.parent):
        err.print(f"warning: {problem}. Its runs fail (recorded) and the rest of the grid goes on.",
                  markup=False, highlight=False)
    results_dir, url = _where(suite, results, storage)
    store, tuner = open_store(suite, url)
    total, done = work_units(cells, suite, store, tuner)
    tuning = (f"tuning: {suite.tuning.budget.describe()} per cell, {suite.tuning.pruner} pruner"
              if suite.tuning else "no tuning (defaults only)")
    console.print(f"[bold]{suite.name}[/]: {len(cells)} cells × {len(suite.seeds)} seeds; {tuning}. "
                  f"{done} of {total or '?'} pieces of work already done. Worker "
                  f"{socket.gethostname()}:{os.getpid()}; storage {safe_url(url)}")
    started, outcomes = time.perf_counter(), []
    try:
        with rich_bar(console) as bar:
            runner = Runner(suite, plugins, device=device, progress=RichProgress(bar), store=store)
            grid = bar.add_task("grid", total=total, completed=done)

            def shown(outcome: Any) -> None:
                outcomes.append(outcome)
                bar.console.print(outcome_line(outcome.kind, outcome.record))
                bar.update(grid, completed=work_units(cells, suite, store, tuner)[1])

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
    console.print(run_summary(records, suite.name))
    failed = sum(o.record.status == "failed" for o in outcomes)
    console.print(f"[bold]done[/] in {time.perf_counter() - started:.0f} s: {len(outcomes)} runs and trials "
                  f"by this worker, {failed} failed. Next: [cyan]tlbench report {suite_path}[/]")
    never_ok = {r.run_id for r in records if not r.ok} - {r.run_id for r in records if r.ok}
    if never_ok:
        console.print(f"[yellow]{len(never_ok)} runs of the grid failed[/]; they stay failed until "
                      f"[cyan]tlbench run --retry-failed {suite_path}[/]")
    if failed:
        raise typer.Exit(1)


@app.command()
@_user_errors
def status(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
           strict: Strict = False) -> None:
    """Coverage of a suite: per cell, trials done, failed and running (worker, heartbeat age), seeds done."""
    from tlbench.status import open_store, status_table, work_units
    from tlbench.storage import safe_url

    _, suite, cells = _load(suite_path, strict, check_hub=False)  # no model needed
    _, url = _where(suite, results, storage)
    store, tuner = open_store(suite, url)
    console.print(status_table(cells, suite, store, tuner))
    total, done = work_units(cells, suite, store, tuner)
    console.print(f"{done} of {total or '?'} pieces of work done; storage {safe_url(url)}")


@app.command()
@_user_errors
def report(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
           strict: Strict = False,
           html: Annotated[bool, typer.Option(
               "--html", help="also LEADERBOARD.html: one self-contained page (sortable tables, plots, every "
                              "cell's runs, options and provenance) that needs no network")] = False,
           ) -> None:
    """Write results/<suite>/LEADERBOARD.md from the records (the database, else runs.jsonl)."""
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins
    from tlbench.records import current, stored_records
    from tlbench.report import write_report

    plugins = get_plugins(strict=strict)
    suite = load_suite(suite_path, plugins, check_data=False)
    results_dir, url = _where(suite, results, storage)
    records, source = stored_records(suite, suite_path, results_dir, url, plugins, export=True)
    now = current(records, build_grid(suite, plugins), suite.tuning)
    if len(now) < len(records):
        console.print(f"{len(records) - len(now)} records of cells or tunings no longer in {suite_path} "
                      f"are kept in the storage and runs.jsonl, and left out of the leaderboard")
    written = write_report(now, suite.name, results_dir, baseline=suite.baseline,
                           margin=suite.equivalence_margin, html=html, skipped=suite.skipped())
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
