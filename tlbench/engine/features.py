"""Frozen-encoder features, computed once and cached on disk.

The key covers everything that changes the numbers: the model (id and weights hash or Hub
revision), the task and its options (which rows, max length), the split role and the pooling. Seeds
and tuning trials of a frozen-feature strategy therefore reuse the same file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tlbench.engine.batching import Collator, rows_of
from tlbench.engine.heads import Pooler
from tlbench.engine.infer import predict
from tlbench.interfaces import Job, Role
from tlbench.progress import NullProgress


class _Encoder(nn.Module):
    def __init__(self, backbone: nn.Module, pooling: str):
        super().__init__()
        self.backbone, self.pooler = backbone, Pooler(pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pooler(hidden, attention_mask)


def feature_key(job: Job, role: Role, pooling: str) -> str:
    config = {"model": job.model.id, "revision": job.model.revision, "task": job.task.name,
              "task_options": job.task.options.model_dump(mode="json"), "role": role,
              "pooling": pooling, "format": 1}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def cached_features(job: Job, backbone: Any, role: Role, pooling: str, *, batch_size: int,
                    pad_id: int, precision: str = "auto") -> np.ndarray:
    """``[rows, hidden]`` float32 features of split ``role``; loaded from the cache when present."""
    path = feature_path(job, role, pooling)
    if path.is_file():
        return np.load(path)
    rows = rows_of(job.encoded(role))
    start = time.perf_counter()
    with (job.progress or NullProgress()).task(f"features {job.task.name}/{role}", 1) as advance:
        feats = predict(_Encoder(backbone, pooling), rows, Collator(pad_id), batch_size=batch_size,
                        device=job.device, precision=precision)
        advance(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, feats.astype(np.float32))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache file
    seconds = time.perf_counter() - start
    path.with_suffix(".json").write_text(json.dumps({"rows": len(rows), "seconds": seconds}))
    return feats


def feature_path(job: Job, role: Role, pooling: str) -> Path:
    return Path(job.cache_dir) / "features" / f"{feature_key(job, role, pooling)}.npy"


def extraction_seconds(job: Job, role: Role, pooling: str) -> float:
    """How long computing the cached features of ``role`` took (0 when unknown)."""
    meta = feature_path(job, role, pooling).with_suffix(".json")
    return float(json.loads(meta.read_text())["seconds"]) if meta.is_file() else 0.0

