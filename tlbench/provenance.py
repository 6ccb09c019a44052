"""Where a result came from: versions, machine, code revision. Every record carries this."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("tlbench", "torch", "transformers", "datasets", "optuna", "pluggy", "pydantic",
             "numpy", "scikit-learn", "safetensors")


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (*LIBRARIES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ""
    return out


@lru_cache(maxsize=16)
def git_state(directory: str) -> dict[str, Any]:
    """The commit of the repository holding ``directory`` and whether its tree had changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": "", "dirty": False}
    return {"sha": sha, "dirty": dirty}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def device_description(device: str) -> dict[str, str]:
    import torch

    info = {"device": device, "torch_threads": str(torch.get_num_threads()),
            "machine": platform.machine(), "platform": platform.platform()}
    if device.startswith("cuda"):
        info["name"] = torch.cuda.get_device_name(torch.device(device))
    else:
        info["name"] = _cpu_name()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"
