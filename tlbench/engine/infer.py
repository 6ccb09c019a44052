"""Inference: rows sorted by length, large batches, ``torch.inference_mode``, outputs in row order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from tlbench.engine.model import autocast, autocast_dtype


@torch.inference_mode()
def predict(module: nn.Module, rows: list[dict[str, Any]], collate: Callable[..., dict[str, torch.Tensor]],
            *, batch_size: int, device: str, precision: str = "auto") -> np.ndarray:
    module.to(device).eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].get("input_ids", ())), reverse=True)
    dtype = autocast_dtype(device, precision)
    outputs: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        batch = collate([rows[i] for i in order[start:start + batch_size]])
        batch.pop("labels", None)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast(device, dtype):
            outputs.append(module(**batch).float().cpu().numpy())
    stacked = np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)
    result = np.empty_like(stacked)
    result[np.asarray(order, dtype=np.int64)] = stacked
    return result
