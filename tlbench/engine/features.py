"""Frozen-encoder features, computed once and cached on disk.

The key covers everything that changes the numbers: the model (id and weights hash or Hub
revision), the task and its options (which rows, max length) and code, the data (every split file's
sha256, the split's row count), the split role, the pooling and layers, and the autocast dtype of
the extraction (the precision option on this device). Seeds
and tuning trials of a frozen-feature strategy therefore reuse the same file. Pooled features are one
``[rows, hidden]`` array; token features (``pooling="none"``, for token and span heads) are stored
concatenated with row offsets and come back as one ``[tokens, hidden]`` array per row.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tlbench.engine.batching import Collator, rows_of
from tlbench.engine.heads import IGNORE, Representation
from tlbench.engine.infer import predict
from tlbench.interfaces import Job, Role
from tlbench.progress import NullProgress

TOKEN_POOLING = "none"


def feature_key(job: Job, role: Role, pooling: str, layers: str = "last", *, precision: str = "auto",
                weights: str = "fp32") -> str:
    from tlbench.engine.model import autocast_dtype
    from tlbench.runner import code_fingerprint, split_options

    # the task's code and the data are in the key, as in the token cache: a changed ``Task.encode``
    # or data file must not reuse stale features. Data: every split file's sha256 (or Hub
    # fingerprint; a selection split carved from train changes with the train file) and the rows of
    # this split (a changed carve or cap). The autocast dtype the extraction runs under (from the
    # precision option and the device: ``auto`` is fp32 on a CPU, bf16 on a GPU that has it) changes
    # the numbers too: fp32 and bf16 features are never mixed up.
    dtype = autocast_dtype(job.device, precision)
    config = {"model": job.model.id, "revision": job.model.revision, "task": job.task.name,
              "task_options": split_options(job.task.options, role), "role": role,
              "pooling": pooling, "layers": layers, "format": 3,
              "code": code_fingerprint(type(job.task)), "data": job.data.sources[role].sha256,
              "sources": {r: s.sha256 for r, s in sorted(job.data.sources.items())},
              "rows": len(job.data.splits[role]),
              "dtype": "float32" if dtype is None else str(dtype).removeprefix("torch.")}
    if weights != "fp32":  # the backbone held in bf16 (``backbone_dtype``): other numbers; fp32 keeps
        config["weights"] = weights  # the keys it had before the option existed
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def feature_path(job: Job, role: Role, pooling: str, layers: str = "last", *, weights: str = "fp32",
                 precision: str = "auto") -> Path:
    key = feature_key(job, role, pooling, layers, precision=precision, weights=weights)
    return Path(job.cache_dir) / "features" / f"{key}.npz"


def cached_features(job: Job, backbone: Any, role: Role, pooling: str, *, batch_size: int,
                    pad_id: int, precision: str = "auto", layers: str = "last", weights: str = "fp32") -> Any:
    """Features of split ``role``, loaded from the cache when present (``weights``: the dtype the
    backbone is held in)."""
    path = feature_path(job, role, pooling, layers, precision=precision, weights=weights)
    if path.is_file():
        return _load(path)
    rows = rows_of(job.encoded(role))
    start = time.perf_counter()
    with (job.progress or NullProgress()).task(f"features {job.task.name}/{role}", 1) as advance:
        encoder = Representation(backbone, token_level=pooling == TOKEN_POOLING,
                                 pooling="cls" if pooling == TOKEN_POOLING else pooling, layers=layers)
        feats = predict(encoder, rows, Collator(pad_id), batch_size=batch_size,
                        device=job.device, precision=precision)
        advance(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    if isinstance(feats, list):
        offsets = np.cumsum([0] + [len(f) for f in feats])
        np.savez(tmp, data=np.concatenate(feats).astype(np.float32), offsets=offsets)
    else:
        np.savez(tmp, data=feats.astype(np.float32))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache file
    path.with_suffix(".json").write_text(json.dumps(
        {"rows": len(rows), "seconds": time.perf_counter() - start}))
    return _load(path)


def extraction_tokens(lengths: list[int], batch_size: int) -> tuple[int, int]:
    """(real, padded) tokens the encoder reads when features of rows of ``lengths`` are extracted,
    batched as :func:`tlbench.engine.infer.predict` batches them: longest first, ``batch_size`` rows
    a batch, each padded to its longest row."""
    ordered = sorted(lengths, reverse=True)
    padded = sum(len(ordered[i:i + batch_size]) * ordered[i] for i in range(0, len(ordered), batch_size))
    return sum(ordered), padded


def _load(path: Path) -> Any:
    with np.load(path) as z:
        data = z["data"]
        if "offsets" not in z:
            return data
        offsets = z["offsets"]
    return [data[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def extraction_seconds(job: Job, role: Role, pooling: str, layers: str = "last", *,
                       precision: str = "auto", weights: str = "fp32") -> float:
    """How long computing the cached features of ``role`` took (0 when unknown)."""
    meta = feature_path(job, role, pooling, layers, precision=precision, weights=weights).with_suffix(".json")
    return float(json.loads(meta.read_text())["seconds"]) if meta.is_file() else 0.0


def labelled_matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) of cached feature rows: one row per text, or one per labelled token for
    token rows (``[tokens, width]`` features; positions labelled ``IGNORE`` are skipped). What the
    kNN head remembers and the ridge probe solves on."""
    feats, targets = [], []
    for row in rows:
        f, y = np.asarray(row["features"], dtype=np.float32), np.asarray(row["labels"])
        if f.ndim == 2:
            keep = y != IGNORE
            f, y = f[keep], y[keep]
        feats.append(f.reshape(-1, f.shape[-1]))
        targets.append(y.reshape(-1))
    return np.concatenate(feats), np.concatenate(targets)
