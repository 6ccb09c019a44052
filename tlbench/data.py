"""Loading benchmark splits from a local mirror or the Hugging Face Hub, carving and capping them.

A mirror is ``<root>/<task>/<split>.jsonl.gz`` with the Hub's column names (``TLBENCH_DATA_DIR``).
Tasks call these helpers; the core names no task.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from tlbench.errors import DataError
from tlbench.interfaces import DataSource

MIRROR_SUFFIX = ".jsonl.gz"


def mirror_file(data_dir: Path, folder: str, split: str) -> Path:
    return Path(data_dir) / folder / f"{split}{MIRROR_SUFFIX}"


@lru_cache(maxsize=64)
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_split(data_dir: Path | None, folder: str, split: str, hub_id: str,
               hub_config: str | None = None) -> tuple[Any, DataSource]:
    """One split as a ``datasets.Dataset`` with where it came from."""
    import datasets

    if data_dir is not None:
        path = mirror_file(data_dir, folder, split)
        if not path.is_file():
            raise DataError(f"data mirror file not found: {path} (data dir {data_dir}; set "
                            f"TLBENCH_DATA_DIR to a mirror holding <task>/<split>.jsonl.gz, or unset "
                            f"it to use the Hugging Face Hub)")
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
        return ds, DataSource(str(path), sha256_file(path), f"mirror of {hub_id} {split}")
    ds = datasets.load_dataset(hub_id, hub_config, split=split)
    name = f"hf://datasets/{hub_id}" + (f"/{hub_config}" if hub_config else "")
    return ds, DataSource(f"{name}:{split}", ds._fingerprint, f"{hub_id} {split} (datasets "
                          f"{datasets.__version__})")


def carve(train: Any, size: int, seed: int) -> tuple[Any, Any]:
    """Split ``size`` rows off ``train`` (fixed seed), for choosing hyperparameters."""
    if size >= len(train):
        raise DataError(f"cannot carve {size} selection rows from a train split of {len(train)}")
    parts = train.train_test_split(test_size=size, seed=seed, shuffle=True)
    return parts["train"], parts["test"]


def cap(ds: Any, size: int | None, seed: int) -> Any:
    """At most ``size`` rows, a seeded random subset (the whole split when ``size`` is None)."""
    if size is None or size >= len(ds):
        return ds
    return ds.shuffle(seed=seed).select(range(size)).flatten_indices()
