"""Frozen-encoder features, computed once and cached on disk.

The key covers everything that changes the numbers: the model (id and weights hash or Hub
revision), the task and its options (which rows, max length), the split role and the pooling. Seeds
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
from tlbench.engine.heads import Representation
from tlbench.engine.infer import predict
from tlbench.interfaces import Job, Role
from tlbench.progress import NullProgress

TOKEN_POOLING = "none"


def feature_key(job: Job, role: Role, pooling: str, layers: str = "last") -> str:
    from tlbench.runner import code_fingerprint

    # the task's code and the split's file are in the key, as in the token cache: a changed
    # ``Task.encode`` or data file must not reuse stale features
    config = {"model": job.model.id, "revision": job.model.revision, "task": job.task.name,
              "task_options": job.task.options.model_dump(mode="json"), "role": role,
              "pooling": pooling, "layers": layers, "format": 3,
              "code": code_fingerprint(type(job.task)), "data": job.data.sources[role].sha256}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def feature_path(job: Job, role: Role, pooling: str, layers: str = "last") -> Path:
    return Path(job.cache_dir) / "features" / f"{feature_key(job, role, pooling, layers)}.npz"


def cached_features(job: Job, backbone: Any, role: Role, pooling: str, *, batch_size: int,
                    pad_id: int, precision: str = "auto", layers: str = "last") -> Any:
    """Features of split ``role``, loaded from the cache when present."""
    path = feature_path(job, role, pooling, layers)
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


def _load(path: Path) -> Any:
    with np.load(path) as z:
        data = z["data"]
        if "offsets" not in z:
            return data
        offsets = z["offsets"]
    return [data[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def extraction_seconds(job: Job, role: Role, pooling: str, layers: str = "last") -> float:
    """How long computing the cached features of ``role`` took (0 when unknown)."""
    meta = feature_path(job, role, pooling, layers).with_suffix(".json")
    return float(json.loads(meta.read_text())["seconds"]) if meta.is_file() else 0.0
