"""Where a suite stands: the store and tuner it runs on, pieces of work done, coverage per cell.

What ``tlbench run`` counts on its progress bar and ``tlbench status`` shows, read from the storage.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tlbench.store import SPEC_ATTR


def open_store(suite: Any, url: str) -> tuple[Any, Any]:
    """The store and (when the suite tunes) the tuner, on the suite's storage."""
    from tlbench.store import Store

    store = Store(url, suite.name, heartbeat_seconds=suite.heartbeat_seconds, max_retries=suite.max_retries)
    if suite.tuning is None:
        return store, None
    from tlbench.tuning import Tuner

    return store, Tuner(store, suite.tuning, suite.seeds)


def work_units(cells: list[Any], suite: Any, store: Any, tuner: Any) -> tuple[int | None, int]:
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


def status_table(cells: list[Any], suite: Any, store: Any, tuner: Any) -> Table:
    """Per cell: tuning trials done of the budget, failures, who is running what (and the age of its
    heartbeat, by the database's clock), default and tuned seeds done."""
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
        # heartbeats are keyed by the storage's trial id (FrozenTrial._trial_id: Optuna has no public
        # accessor; the number is per study, the id is what the heartbeat table holds)
        shown = ", ".join(f"{t.user_attrs.get('worker', '?')} ({age(ages.get(t._trial_id))})"
                          for t in running)
        table.add_row(c.strategy, c.where, trials, str(failed), shown or "–", seeds("default"),
                      seeds("tuned") if tuner and tuner.tunable(c) else "= default")
    return table


def age(seconds: float | None) -> str:
    return "no heartbeat" if seconds is None else f"{seconds:.0f} s ago"
