"""Dynamic padding and length-grouped batches.

Grouping uses transformers' ``LengthGroupedSampler`` (shuffled mega-batches sorted by length), so
batches are random across the epoch but pad to nearly the real token count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler

from tlbench.engine.heads import IGNORE

#: row fields a model or a loss reads; everything else a task encodes (word ids, offsets, truncation
#: flags) is metadata for decoding and accounting and never reaches the model.
MODEL_FIELDS = ("input_ids", "token_type_ids", "features", "labels", "start_positions", "end_positions")


def row_length(row: Mapping[str, Any]) -> int:
    seq = row.get("input_ids", row.get("features"))
    return len(seq) if seq is not None and np.ndim(seq) >= (1 if "input_ids" in row else 2) else 1


class Collator:
    """Pads every sequence field to the batch's longest row and builds ``attention_mask``.

    ``input_ids`` pad with the tokenizer's pad id, token labels with -100 (ignored by the loss),
    features and token type ids with 0. Scalars are stacked (float labels stay float: regression).
    Token labels also give ``token_mask``, the positions a label is predicted at.
    """

    def __init__(self, pad_id: int = 0):
        self.pad = {"input_ids": pad_id, "labels": IGNORE}

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        lengths = [row_length(r) for r in rows]
        sequential = "input_ids" in rows[0] or np.ndim(rows[0]["features"]) == 2
        for key in MODEL_FIELDS:
            if key not in rows[0]:
                continue
            values = [r[key] for r in rows]
            if sequential and np.ndim(values[0]) >= 1 and (key != "features" or np.ndim(values[0]) == 2):
                batch[key] = _pad([torch.as_tensor(np.asarray(v)) for v in values], self.pad.get(key, 0))
            else:
                batch[key] = torch.as_tensor(np.asarray(values))
        if sequential:
            mask = torch.zeros((len(rows), max(lengths)), dtype=torch.long)
            for i, n in enumerate(lengths):
                mask[i, :n] = 1
            batch["attention_mask"] = mask
        if "labels" in batch and batch["labels"].ndim == 2:
            # positions that carry a label (first sub-tokens): set by word boundaries, not by the
            # gold tags, so inference keeps it when labels are dropped (a CRF decodes over them)
            batch["token_mask"] = batch["labels"] != IGNORE
        if "labels" in batch and batch["labels"].dtype == torch.float64:
            batch["labels"] = batch["labels"].float()
        if "features" in batch:
            batch["features"] = batch["features"].float()
        return batch


def _pad(tensors: list[torch.Tensor], value: float) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True, padding_value=value)


def rows_of(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Column dict -> list of row dicts (what a DataLoader indexes)."""
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]


class TensorBatches:
    """Shuffled batches of rows without a sequence axis (pooled features): collated into tensors
    once, then sliced. A DataLoader would collate every row again in every epoch, which costs far
    more than a linear head's step (the probe trains for tens of epochs on cached features)."""

    def __init__(self, rows: list[dict[str, Any]], batch_size: int, collate: Any,
                 generator: torch.Generator):
        self.data = collate(rows)
        self.n, self.batch_size, self.generator = len(rows), batch_size, generator

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Any:
        order = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield {k: v[idx] for k, v in self.data.items()}


def length_grouped_loader(rows: list[dict[str, Any]], batch_size: int, collate: Any, seed: int,
                          grouped: bool = True) -> Any:
    """Training batches: length-grouped and shuffled (``grouped``), or plainly shuffled."""
    generator = torch.Generator().manual_seed(seed)
    lengths = [row_length(r) for r in rows]
    if max(lengths) <= 1 and "input_ids" not in rows[0]:
        return TensorBatches(rows, batch_size, collate, generator)
    if grouped and max(lengths) > 1:
        sampler: Any = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    else:
        sampler = RandomSampler(rows, generator=generator)
    # torch's stubs want a Dataset; a list of rows is one at run time (``__getitem__`` and ``__len__``)
    return DataLoader(rows, batch_size=batch_size, sampler=sampler, collate_fn=collate)  # type: ignore[arg-type]


def padding_ratio(loader: DataLoader) -> float:
    """Padded tokens / real tokens over one pass (1.0 means no padding)."""
    padded = real = 0
    for batch in loader:
        padded += batch["attention_mask"].numel()
        real += int(batch["attention_mask"].sum())
    return padded / max(real, 1)
