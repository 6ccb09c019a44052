"""``python -m tests.integration.stopping run SUITE``: the real CLI in a process of its own, with the
fakes of tests/fakes.py and a strategy, ``stopping``, that stops that process at a known point.

On its ``TLBENCH_TEST_STOP_AT``-th fit (counted from 1 in this process; unset: never) ``stopping``
sends ``TLBENCH_TEST_STOP_SIGNAL`` (``SIGINT``, as Ctrl-C does, or ``SIGKILL``) to its own process.
The tests of interruption then stop a run at the same place on any machine, instead of racing a
timer against the training."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from tests import fakes
from tlbench import Fitted, Job, hookimpl

STOP_AT = "TLBENCH_TEST_STOP_AT"
STOP_SIGNAL = "TLBENCH_TEST_STOP_SIGNAL"
_fits = 0


class StoppingStrategy(fakes.FakeStrategy):
    def fit(self, job: Job) -> Fitted:
        global _fits
        _fits += 1
        if str(_fits) == os.environ.get(STOP_AT):
            os.kill(os.getpid(), getattr(signal, os.environ.get(STOP_SIGNAL, "SIGINT")))
            time.sleep(60)  # SIGINT raises KeyboardInterrupt in here; SIGKILL never comes back
            raise RuntimeError(f"{os.environ.get(STOP_SIGNAL)} did not stop the process (SIGINT handler "
                               f"{signal.getsignal(signal.SIGINT)!r}, blocked signals "
                               f"{sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))})")
        return super().fit(job)


@hookimpl
def register_strategies(register):
    register("stopping", StoppingStrategy)


def as_from_a_terminal() -> None:
    """SIGINT as a shell gives it to a command (Python's KeyboardInterrupt handler, not blocked): a
    process inherits its parent's signal mask and ignored signals, and a pytest-xdist worker's may
    block or ignore SIGINT (the full suite in CI, 2026-12-03: the Ctrl-C never arrived)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str]) -> None:
    from tlbench.cli import main as cli_main

    as_from_a_terminal()
    from tlbench.plugins import get_plugins

    plugins = get_plugins()
    with plugins.temporarily(fakes, name="tlbench-fakes"), \
            plugins.temporarily(sys.modules[__name__], name="tlbench-stopping"):
        sys.argv = [str(Path(sys.executable).parent / "tlbench"), *argv]
        cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
