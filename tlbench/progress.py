"""Progress reporting: the protocol the engine calls (silent by default), and the rich progress
display of a run that ``tlbench run`` draws.

The engine knows only :class:`Progress` (``NullProgress``: silent). The CLI's display is
:class:`RichProgress` (a transient bar per training or extraction) inside :func:`rich_bar` (the
grid's bar), :func:`outcome_line` per finished run or trial and :func:`run_summary` at the end.
rich and the record helpers are imported inside the functions: importing this module stays cheap
(``tlbench`` and the engine import it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import rich.progress
    from rich.console import Console
    from rich.table import Table


class Progress(Protocol):
    def task(self, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


class NullProgress:
    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None


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


def rich_bar(console: Console) -> rich.progress.Progress:
    """The run's rich progress display (description, bar, done of total, elapsed time)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Bar(*columns, console=console)


def outcome_line(kind: str, record: Any) -> str:
    """One finished run or trial (``kind``: "run" or "trial"), as rich markup."""
    from rich.markup import escape

    what = f"trial {record.trial_number}" if kind == "trial" else record.variant
    where = f"{record.strategy} × {record.task} {what} seed {record.seed}"
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in record.tuned_params.items())
    params = escape(f" [{params}]") if params and kind == "trial" else ""  # not rich markup
    if record.status == "pruned":
        return f"  [yellow]-[/] {where}{params}: {record.error}"
    if not record.ok:
        return f"  [red]✗[/] {where}{params}: {record.error_line}"
    split = "select" if kind == "trial" else "report"
    return (f"  [green]✓[/] {where}{params}: {split} {record.primary_metric} {record.score(split):.4f} "
            f"({record.cost.train_seconds:.1f} s training)")


def run_summary(records: list[Any], suite: str) -> Table:
    """Mean ± sd of the primary metric per strategy and task, over every finished seed: a row per
    strategy, and per model and training size where the suite has several (never pooled)."""
    from rich.table import Table

    from tlbench.analysis import size_label
    from tlbench.records import model_axis, reported
    from tlbench.report import mean_sd

    records, _, _ = model_axis(records, "")
    records = [r.model_copy(update={"strategy": f"{r.strategy} [{size_label(r.train_size)}]"})
               if r.train_size is not None else r for r in records]
    by_cell = reported(records)
    tasks = list(dict.fromkeys(t for _, t in by_cell))
    table = Table(title=f"{suite}: reported score, mean ± sd over seeds")
    table.add_column("strategy")
    for t in tasks:
        table.add_column(t, justify="right")
    for s in dict.fromkeys(s for s, _ in by_cell):
        table.add_row(s, *[mean_sd([r.score() for r in by_cell.get((s, t), ("", []))[1]]) for t in tasks])
    return table
