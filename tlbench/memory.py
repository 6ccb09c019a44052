"""Peak memory of one run, measured for that run alone (not the process's peak since it started).

What the record's ``cost.peak_memory_bytes`` holds, and how (its ``cost.memory_kind`` says which):

``cuda_max_allocated`` (a CUDA device)
    ``torch.cuda.reset_peak_memory_stats`` at the start of the run, ``torch.cuda.max_memory_allocated``
    at its end: the most bytes of tensors allocated on the device during the run. Tensors still alive
    from before the run count (the runner collects garbage between runs, so normally none); the
    caching allocator's reserved-but-free blocks and the CUDA context do not.

``linux_vmhwm_reset`` (CPU on Linux, the usual case)
    The kernel keeps a high-water mark of the process's resident set (``VmHWM`` in
    ``/proc/self/status``). At the start of the run the garbage is collected, freed heap is handed back
    to the kernel (glibc's ``malloc_trim``), and the mark is reset to the current RSS by writing ``5`` to
    ``/proc/self/clear_refs`` (Linux 4.0 and later); at the end ``VmHWM`` is read. So the number is the
    process's largest RSS while the run went on, exact (the kernel tracks it, nothing is sampled),
    and no earlier run's peak leaks into it. It is the whole process's resident memory at that
    moment: the interpreter and the loaded libraries (torch alone is a few hundred MB), which a
    process running this run alone would need too, and whatever the process still holds from before
    the run (the runner keeps every task's loaded data, other tasks' included) are in it.
    :attr:`PeakMemory.baseline` (the RSS at the start) and :attr:`PeakMemory.increase` (peak minus
    baseline) are there for a reader who wants the run's own growth; the record keeps the peak,
    which depends less on the order of runs: the first run of a process also loads modules (of
    torch, transformers, peft) that stay, so its increase is larger than the same run's later.

``psutil_rss_sampled`` (CPU elsewhere: macOS, Windows, or a Linux where ``clear_refs`` cannot be
written, as some sandboxes forbid)
    A thread samples the process's current RSS (psutil) every ``interval`` seconds from the start of
    the run to its end and keeps the largest. It starts afresh at each run, so it too is per run,
    but a peak shorter than the interval can be missed (the number is a lower bound), and without
    ``malloc_trim`` (a libc other than glibc) freed heap an earlier run left may still count.

Records written before this module have ``process_rss``: that sampling, without ``malloc_trim``, so
heap an earlier run freed but glibc kept still counted.
"""

from __future__ import annotations

import ctypes
import gc
import re
import sys
import threading
from pathlib import Path

CUDA = "cuda_max_allocated"
LINUX_HWM = "linux_vmhwm_reset"
SAMPLED = "psutil_rss_sampled"

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (``VmHWM``, ``VmRSS``) in bytes."""
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {field} in {_STATUS}")
    return int(match.group(1)) * 1024


def _trim_heap() -> None:
    """Give the heap's free pages back to the kernel (glibc only; elsewhere nothing), so memory an
    earlier run freed does not stay in the RSS this run starts from."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        pass


def reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark of this process to its current RSS; that RSS in bytes, or
    ``None`` where it cannot be done (not Linux, Linux before 4.0, ``clear_refs`` not writable, or a
    kernel that takes the write but does not reset the mark)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        _CLEAR_REFS.write_text("5")
        hwm, rss = _status_bytes("VmHWM"), _status_bytes("VmRSS")
    except OSError:  # PermissionError in some containers, EINVAL before Linux 4.0
        return None
    # right after a reset the mark is the current RSS (give or take what another thread just
    # allocated); far above it, the write was accepted but did nothing
    if hwm > rss * 1.05 + (16 << 20):
        return None
    return rss


class PeakMemory:
    """``with PeakMemory(device) as m: ...`` then ``m.peak`` (bytes) and ``m.kind`` (how it was
    measured: ``cuda_max_allocated``, ``linux_vmhwm_reset`` or ``psutil_rss_sampled``; the module
    docstring says what each means). Per run: an earlier run's peak never counts."""

    def __init__(self, device: str, interval: float = 0.05):
        self.device, self.interval = device, interval
        #: the run's peak in bytes (what the record keeps as ``peak_memory_bytes``)
        self.peak = 0
        #: bytes in use at the start: the RSS on CPU, the allocated tensors on CUDA
        self.baseline = 0
        self.kind = CUDA if device.startswith("cuda") else LINUX_HWM
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def increase(self) -> int:
        """How far above its start the run went: ``peak - baseline``."""
        return max(0, self.peak - self.baseline)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.kind == CUDA:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = int(torch.cuda.memory_allocated(self.device))
            return self
        _trim_heap()
        rss = reset_peak_rss()
        if rss is not None:
            self.kind, self.baseline = LINUX_HWM, rss
            return self
        self._start_sampling()
        return self

    def _start_sampling(self) -> None:
        import psutil

        self.kind = SAMPLED
        proc = psutil.Process()
        self.baseline = self.peak = int(proc.memory_info().rss)

        def sample() -> None:
            while not self._stop.wait(self.interval):
                self.peak = max(self.peak, int(proc.memory_info().rss))
            self.peak = max(self.peak, int(proc.memory_info().rss))

        self._thread = threading.Thread(target=sample, name="tlbench-peak-memory", daemon=True)
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        if self.kind == CUDA:
            import torch

            self.peak = int(torch.cuda.max_memory_allocated(self.device))
        elif self.kind == LINUX_HWM:
            self.peak = _status_bytes("VmHWM")
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
