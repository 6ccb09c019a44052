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
def validate(suite_path: SuiteArg, strict: Strict = False) -> None:
    """Check a suite (names, options, data files) without importing torch or touching the network."""
    plugins, suite, cells = _load(suite_path, strict)
    table = Table(title=f"{suite.name}: {len(cells)} cells × {len(suite.seeds)} seeds = "
                        f"{len(cells) * len(suite.seeds)} runs")
    for col in ("cell", "model", "task", "strategy", "options"):
        table.add_column(col)
    for c in cells:
        opts = c.strategy_options.model_dump(exclude_unset=True)
        table.add_row(c.id, c.model, c.task, c.strategy, ", ".join(f"{k}={v}" for k, v in opts.items()))
    console.print(table)
    console.print(f"[green]ok[/]: {suite.path} is valid; data: {suite.data_dir or 'Hugging Face Hub'}")


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


@app.command()
@_user_errors
def run(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
        strict: Strict = False) -> None:
    """Run every unfinished cell × seed of a suite; finished runs are skipped, failures recorded."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tlbench.grid import build_runs
    from tlbench.runner import Runner
    from tlbench.store import Store, export_jsonl

    plugins, suite, cells = _load(suite_path, strict)
    results_dir, url = _where(suite, results, storage)
    store = Store(url, suite.name)
    runs = build_runs(cells)
    done = store.finished()
    todo = [r for r in runs if r.id not in done]
    console.print(f"[bold]{suite.name}[/]: {len(cells)} cells, {len(runs)} runs; {len(runs) - len(todo)} "
                  f"already finished, {len(todo)} to do. Records: {url}")
    started, outcomes = time.perf_counter(), []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as bar:
            runner = Runner(suite, plugins, device=device, progress=RichProgress(bar))
            grid = bar.add_task("grid", total=len(todo))
            for r in todo:
                bar.update(grid, description=f"grid: {r.cell.strategy} × {r.cell.task} seed {r.seed}")
                record = runner.execute(r)
                store.add(record)
                outcomes.append(record)
                bar.console.print(_outcome_line(r, record))
                bar.advance(grid)
    except KeyboardInterrupt:
        export_jsonl(store.records(), results_dir / "runs.jsonl")
        err.print(f"[yellow]interrupted[/]: {len(outcomes)} runs of this session are saved in {url}; "
                  f"the run in progress was dropped. Rerun the same command to continue.")
        raise typer.Exit(130) from None
    records = store.records()
    export_jsonl(records, results_dir / "runs.jsonl")
    console.print(_summary(records, suite.name))
    failed = sum(r["status"] != "ok" for r in outcomes)
    console.print(f"[bold]done[/] in {time.perf_counter() - started:.0f} s: {len(outcomes) - failed} "
                  f"finished, {failed} failed. Next: [cyan]tlbench report {suite_path}[/]")
    if failed:
        raise typer.Exit(1)


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


def _outcome_line(run: Any, record: dict[str, Any]) -> str:
    where = f"{run.cell.strategy} × {run.cell.task} seed {run.seed}"
    if record["status"] != "ok":
        return f"  [red]✗[/] {where}: {record['error'].strip().splitlines()[-1]}"
    score = record["metrics"]["report"][record["primary_metric"]]
    return (f"  [green]✓[/] {where}: {record['primary_metric']} {score:.4f} "
            f"({record['cost']['train_seconds']:.1f} s training)")


@app.command()
@_user_errors
def report(suite_path: SuiteArg, storage: Storage = None, results: Results = None,
           strict: Strict = False) -> None:
    """Write results/<suite>/LEADERBOARD.md from the records (the database, else runs.jsonl)."""
    from tlbench.config import load_suite
    from tlbench.plugins import get_plugins
    from tlbench.report import leaderboard
    from tlbench.store import Store, export_jsonl, read_jsonl

    suite = load_suite(suite_path, get_plugins(strict=strict), check_data=False)
    results_dir, url = _where(suite, results, storage)
    jsonl = results_dir / "runs.jsonl"
    db_missing = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
    if db_missing and jsonl.exists():
        records, source = read_jsonl(jsonl), str(jsonl)
    elif db_missing:
        raise TlbenchError(f"no records for {suite.name}: neither {url} nor {jsonl} exists; "
                           f"run `tlbench run {suite_path}` first")
    else:
        records, source = Store(url, suite.name).records(), url
        export_jsonl(records, jsonl)
    out = results_dir / "LEADERBOARD.md"
    out.write_text(leaderboard(records, suite.name), encoding="utf-8")
    console.print(f"wrote [bold]{out}[/] from {len(records)} records ({source})")


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
