"""Inference: rows sorted by length, large batches, ``torch.inference_mode``, outputs in row order.

Text-level heads give one ``ndarray`` of ``[rows, outputs]``; token-level heads give a list with
one ``[tokens, outputs]`` array per row, cut to the row's real length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from tlbench.engine.batching import row_length
from tlbench.engine.model import autocast, autocast_dtype


@torch.inference_mode()
def predict(module: nn.Module, rows: list[dict[str, Any]], collate: Callable[..., dict[str, torch.Tensor]],
            *, batch_size: int, device: str, precision: str = "auto") -> Any:
    module.to(device).eval()
    lengths = [row_length(r) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: lengths[i], reverse=True)
    dtype = autocast_dtype(device, precision)
    per_row: list[Any] = [None] * len(rows)
    token_level = False
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate([rows[i] for i in idx])
        for key in ("labels", "start_positions", "end_positions"):
            batch.pop(key, None)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast(device, dtype):
            out = module(**batch).float().cpu().numpy()
        token_level = out.ndim == 3
        for j, i in enumerate(idx):
            per_row[i] = out[j, :lengths[i]] if token_level else out[j]
    if token_level:
        return per_row
    return np.stack(per_row) if per_row else np.zeros((0,), dtype=np.float32)
