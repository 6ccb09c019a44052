"""Peak memory is measured per run (issue 17): two runs of different size, in one process in the order
A, B and in a fresh process in the order B, A, record each the same peak within 10 %.

Each order runs in a process of its own (``python -m tests.integration.test_memory ...``, the
``main`` at the bottom), so both start clean. Three pairs: numpy arrays of 300 and 100 MB (``arrays``),
the same sizes in 64 KB heap blocks (``heap``), and full fine-tuning of a small and a bigger tiny BERT
through the real runner. The measures this replaces fail them (checked by hand with the old class):

- a process-wide peak RSS never reset (``ru_maxrss``, ``VmHWM`` without ``clear_refs``) gives the
  100 MB run after the 300 MB one the 300 MB one's peak: 351 MB against 151 MB in the other order
  (``arrays``);
- the RSS sampled by psutil from each run's start (the old ``process_rss``) keeps the heap an earlier
  run freed but glibc did not give back: 331 MB against 140 MB (``heap``; the arrays are unmapped
  when freed, so ``arrays`` alone would not catch it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tlbench.memory import CUDA, LINUX_HWM, SAMPLED, PeakMemory

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


def in_both_orders(*args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``main([*args])`` and ``main`` with the last two arguments swapped, each in a new interpreter
    (both at once: they share nothing); what each printed last (JSON)."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path}
    orders = [args, (*args[:-2], args[-1], args[-2])]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.integration.test_memory", *order], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for order in orders]
    try:
        ended = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:  # none left running after a timeout (a no-op on those that ended)
            proc.kill()
            proc.wait()
    for proc, (_, stderr) in zip(procs, ended, strict=True):
        assert proc.returncode == 0, stderr
    forward, backward = (json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in ended)
    return forward, backward


def assert_same_peaks(forward: dict[str, Any], backward: dict[str, Any]) -> None:
    for name in forward["peaks"]:
        a, b = forward["peaks"][name], backward["peaks"][name]
        assert abs(a - b) <= 0.10 * min(a, b), (f"{name}: {a / MB:.0f} MB in order {forward['order']}, "
                                                f"{b / MB:.0f} MB in order {backward['order']}")


# -- workloads ---------------------------------------------------------------------------------------

_pins: list[bytearray] = []  # small blocks a workload leaves behind, as a real run leaves caches


def arrays(mb: int) -> None:
    """``mb`` MB in one array, every page touched (numpy maps it apart from the heap, and unmaps it
    when freed)."""
    import numpy as np

    block = np.ones(mb * MB // 8)
    time.sleep(0.3)  # held a few sampling intervals, so the psutil fallback sees it too
    del block


def heap(mb: int) -> None:
    """``mb`` MB in 64 KB heap blocks, a small block kept alive after each MB: once freed, the big
    blocks are 1 MB holes in the heap that glibc keeps (the RSS stays up) until ``malloc_trim``, as
    after the many small tensors and buffers of a training. (The pages a kept block shares with a hole
    stay: a small block after every 64 KB one would leave ~20 MB of such pages per 300 MB.)"""
    blocks = []
    for i in range(mb * 16):
        blocks.append(bytearray(64 * 1024))
        if i % 16 == 15:
            _pins.append(bytearray(1024))
    time.sleep(0.3)
    del blocks


def measure(workload: str, size: int) -> PeakMemory:
    with PeakMemory("cpu") as memory:
        {"arrays": arrays, "heap": heap}[workload](size)
    return memory


# -- tests -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workload", ["arrays", "heap"])
def test_two_runs_in_either_order_have_the_same_peaks(workload: str):
    """300 MB then 100 MB in one process, 100 MB then 300 MB in another: each size's peak agrees
    within 10 %, and the two sizes' peaks lie about 200 MB apart (so the small run after the big one
    did not report the big one's peak, as a never-reset process peak would: 2-3x too high)."""
    if workload == "heap" and not sys.platform.startswith("linux"):
        pytest.skip("freed heap is handed back by glibc's malloc_trim, which only Linux has")
    forward, backward = in_both_orders(workload, "300", "100")
    print(workload, forward, backward)
    assert forward["kind"] == backward["kind"] in (LINUX_HWM, SAMPLED)
    assert_same_peaks(forward, backward)
    for run in (forward, backward):
        apart = (run["peaks"]["300"] - run["peaks"]["100"]) / MB
        assert 170 <= apart <= 230, run
        for size, increase in run["increases"].items():  # above the run's start: its own memory
            assert 0.9 * int(size) <= increase / MB <= 1.1 * int(size) + 20, run


RUNNER_SUITE = """
models = ["{small}", "{big}"]
seeds = [0]

[tasks.sst2]
max_train_examples = 32
select_examples = 32
max_eval_examples = 32
max_length = 32

[strategies.full_finetune]
epochs = 1
batch_size = 16
"""


def test_runner_records_each_runs_own_peak(tmp_path: Path, data_dir: Path):
    """The same through the runner: full fine-tuning of a 2-layer, 32-wide tiny BERT (``small``) and of
    a 4-layer, 512-wide one (``big``: 8 M parameters, their gradients and Adam's two moments, ~130 MB
    more), in the order big, small in one process and small, big in another. Each model's recorded
    peak agrees within 10 % between the orders, and ``small`` after ``big`` is not ``big``'s peak."""
    from tlbench.testing import tiny_bert

    tiny_bert(tmp_path / "small", hidden=32, layers=2)
    tiny_bert(tmp_path / "big", hidden=512, layers=4)
    forward, backward = in_both_orders("runner", str(tmp_path), "big", "small")
    print("runner", forward, backward)
    assert forward["kind"] == backward["kind"] in (LINUX_HWM, SAMPLED)
    assert_same_peaks(forward, backward)
    for run in (forward, backward):
        assert run["peaks"]["big"] - run["peaks"]["small"] > 100 * MB, run


def test_linux_resets_the_kernels_peak_mark():
    """On Linux the kernel's own peak (VmHWM, exact) is used, its mark reset at each run's start;
    where this machine forbids the reset the sampled fallback is what the other tests check."""
    if not sys.platform.startswith("linux"):
        pytest.skip("VmHWM and /proc/self/clear_refs are Linux's")
    big = measure("arrays", 200)
    small = measure("arrays", 20)
    if big.kind == SAMPLED:
        pytest.skip("/proc/self/clear_refs cannot reset the peak here: the psutil sampling is used")
    assert big.kind == small.kind == LINUX_HWM
    assert big.peak - small.peak > 150 * MB
    assert small.increase >= 19 * MB  # 20 MB, give or take a page the heap already had


def test_a_short_peak_is_not_missed_on_linux():
    """A peak shorter than the sampling interval: VmHWM, kept by the kernel, still has it."""
    import numpy as np

    with PeakMemory("cpu", interval=10.0) as memory:
        np.ones(150 * MB // 8)  # allocated, touched and freed at once
    if memory.kind != LINUX_HWM:
        pytest.skip(f"measured by {memory.kind}, which samples: a short peak can be missed")
    assert memory.increase >= 140 * MB


def test_sampled_fallback_where_the_reset_is_refused(monkeypatch):
    """A sandbox that refuses ``clear_refs`` gets the psutil sampling, and the record says so."""
    import tlbench.memory as memory_module

    monkeypatch.setattr(memory_module, "reset_peak_rss", lambda: None)
    with PeakMemory("cpu", interval=0.01) as memory:
        arrays(100)
    assert memory.kind == SAMPLED
    assert memory.increase >= 90 * MB


def test_cuda_branch_resets_and_reads_the_allocator_peak(monkeypatch):
    """No GPU here: a fake ``torch.cuda`` checks the calls, in order, on the run's device."""
    import torch

    calls: list[tuple[str, Any]] = []

    class FakeCuda:
        @staticmethod
        def reset_peak_memory_stats(device: Any = None) -> None:
            calls.append(("reset", device))

        @staticmethod
        def memory_allocated(device: Any = None) -> int:
            calls.append(("allocated", device))
            return 10 * MB

        @staticmethod
        def max_memory_allocated(device: Any = None) -> int:
            calls.append(("max", device))
            return 300 * MB

    monkeypatch.setattr(torch, "cuda", FakeCuda)
    with PeakMemory("cuda:1") as memory:
        calls.append(("run", None))
    assert calls == [("reset", "cuda:1"), ("allocated", "cuda:1"), ("run", None), ("max", "cuda:1")]
    assert (memory.kind, memory.peak, memory.baseline, memory.increase) == (CUDA, 300 * MB, 10 * MB, 290 * MB)


def runner_runs(directory: Path, order: list[str]) -> dict[str, Any]:
    """Full fine-tuning of the ``small`` and the ``big`` tiny BERT in ``directory`` on 32 SST-2 rows,
    through the real :class:`Runner`, one after the other in ``order``."""
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import Plugins
    from tlbench.runner import Runner

    suite = directory / "memory.toml"
    suite.write_text(RUNNER_SUITE.format(small=directory / "small", big=directory / "big"))
    plugins = Plugins(entry_points=False)
    loaded = load_suite(suite, plugins)
    cells = {Path(c.model).name: c for c in build_grid(loaded, plugins)}
    runner = Runner(loaded, plugins, device="cpu", cache_dir=directory / f"cache-{'-'.join(order)}")
    peaks, kinds = {}, set()
    for name in order:
        record = runner.execute(cells[name].runs()[0])
        assert record.ok, record.error
        peaks[name] = record.cost.peak_memory_bytes
        kinds.add(record.cost.memory_kind)
    (kind,) = kinds
    return {"order": order, "kind": kind, "peaks": peaks}


def main(argv: list[str]) -> None:
    """``WORKLOAD SIZE...`` (``arrays`` or ``heap``, sizes in MB) or ``runner DIRECTORY NAME...``: each
    run in that order in this process; prints what was measured (JSON)."""
    if argv[0] == "runner":
        print(json.dumps(runner_runs(Path(argv[1]), argv[2:])))
        return
    workload, sizes = argv[0], argv[1:]
    peaks, increases, kinds = {}, {}, set()
    for size in sizes:
        memory = measure(workload, int(size))
        peaks[size], increases[size] = memory.peak, memory.increase
        kinds.add(memory.kind)
    (kind,) = kinds
    print(json.dumps({"order": sizes, "kind": kind, "peaks": peaks, "increases": increases}))


if __name__ == "__main__":
    main(sys.argv[1:])
