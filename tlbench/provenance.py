"""Where a result came from: versions, machine, code revision. Every record carries this."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
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
        info["name"] = cpu_name()
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


# -- paths in records: never the machine's ---------------------------------------------------------
#: how a record names a data directory that came from the environment variable
DATA_ENV_LABEL = "$TLBENCH_DATA_DIR"
#: how a record names a data directory it cannot name otherwise (outside the suite's repository)
MIRROR_LABEL = "mirror"
_PACKAGE_DIRS = ("site-packages", "dist-packages")


def is_machine_path(text: str) -> bool:
    """An absolute local path (``/x``, ``C:\\x``, ``\\\\server\\x``), not a URL nor a Hub id."""
    return bool(text) and "://" not in text and (
        PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()
        or text.startswith("\\\\"))


def _parts(path: str) -> tuple[str, ...]:
    return (PureWindowsPath(path) if "\\" in path else PurePosixPath(path)).parts


def _relative(path: str, root: str | Path | None) -> str | None:
    """``path`` relative to ``root`` (``/``-separated) when inside it, else None."""
    if not root or not is_machine_path(str(root)):
        return None
    inner, outer = _parts(path), _parts(str(root))
    if len(inner) <= len(outer) or inner[:len(outer)] != outer:
        return None
    return "/".join(inner[len(outer):])


@lru_cache(maxsize=16)
def repo_root(directory: str) -> Path | None:
    """The top folder of the git repository holding ``directory`` (None outside one)."""
    here = Path(directory).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def portable_path(path: str, repo: Path | None = None) -> str:
    """How a record names a local file or folder without the machine's layout: a file of an
    installed package as ``<package>/<inner path> (installed package)``; relative to the suite's
    repository ``repo`` when inside it; else its name. Anything else (a Hub id, a URL, a
    relative path as the suite wrote it) is returned unchanged."""
    if not is_machine_path(path):
        return path
    parts = _parts(path)
    for i in range(len(parts) - 2, -1, -1):  # first: a virtual environment may be inside the repository
        if parts[i] in _PACKAGE_DIRS:
            return "/".join(parts[i + 1:]) + " (installed package)"
    return _relative(path, repo) or (parts[-1] if len(parts) > 1 else "")


def data_location(location: str, data_dir: str | Path | None, repo: Path | None = None) -> str:
    """A data source's location for a record: a mirror file relative to the data directory (e.g.
    ``sst2/validation.jsonl.gz``); a Hub dataset's id as it is; another local file as
    :func:`portable_path` names it."""
    if not is_machine_path(location):
        return location
    return _relative(location, data_dir) or portable_path(location, repo)


def data_dir_label(data_dir: Path | None, repo: Path | None = None) -> str:
    """Where a run's data came from, for a record: ``hub``; ``$TLBENCH_DATA_DIR`` when that variable
    named the mirror; the mirror's path relative to the suite's repository when inside it; else
    ``mirror``. The sha256 of each file, in the record's data sources, is what identifies the data."""
    if data_dir is None:
        return "hub"
    env = os.environ.get("TLBENCH_DATA_DIR")
    if env and Path(env).expanduser().resolve() == Path(data_dir).resolve():
        return DATA_ENV_LABEL
    return _relative(str(Path(data_dir).resolve()), repo) or MIRROR_LABEL


def suite_file_label(path: Path) -> str:
    """The suite file relative to its git repository's root (e.g. ``suites/glue_small.toml``), or
    its file name outside a repository."""
    path = Path(path).resolve()
    return _relative(str(path), repo_root(str(path.parent))) or path.name


def portable_record(obj: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON (any schema version) with the machine paths older tlbench recorded made
    portable, as a new record names them: data locations relative to the recorded data directory,
    which becomes ``mirror``; the suite file from its ``suites`` folder on (else its name); a local
    model folder as :func:`portable_path` names it. Records without such paths come back as they
    are (the same object)."""
    prov = obj.get("provenance")
    if not isinstance(prov, dict):
        return obj
    new_prov = dict(prov)
    data = obj.get("data")
    new_data = data
    data_dir = prov.get("data_dir")
    if isinstance(data_dir, str) and is_machine_path(data_dir):
        new_prov["data_dir"] = MIRROR_LABEL
        sources = data.get("sources") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(sources, dict):
            new_data = {**data, "sources": {
                role: {**s, "location": data_location(s["location"], data_dir)}
                if isinstance(s, dict) and isinstance(s.get("location"), str) else s
                for role, s in sources.items()}}
    suite_file = prov.get("suite_file")
    if isinstance(suite_file, str) and is_machine_path(suite_file):
        parts = _parts(suite_file)
        at = max((i for i, p in enumerate(parts[:-1]) if p == "suites"), default=len(parts) - 1)
        new_prov["suite_file"] = "/".join(parts[at:])
    model = prov.get("model")
    if isinstance(model, dict) and isinstance(model.get("path"), str) and is_machine_path(model["path"]):
        new_prov["model"] = {**model, "path": portable_path(model["path"])}
    if new_prov == prov and new_data is data:
        return obj
    return {**obj, "provenance": new_prov, **({"data": new_data} if new_data is not data else {})}
