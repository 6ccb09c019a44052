"""Dynamic padding and length-grouped batches.

Grouping uses transformers' ``LengthGroupedSampler`` (shuffled mega-batches sorted by length), so
batches are random across the epoch but pad to nearly the real token count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler


class Collator:
    """Pads ``input_ids`` to the longest row of the batch; stacks every other column."""

    def __init__(self, pad_id: int, label_dtype: torch.dtype = torch.long):
        self.pad_id = pad_id
        self.label_dtype = label_dtype

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"])
            mask[i, :n] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in rows[0]:
            batch["labels"] = torch.as_tensor([r["labels"] for r in rows], dtype=self.label_dtype)
        return batch


def rows_of(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Column dict -> list of row dicts (what a DataLoader indexes)."""
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def length_grouped_loader(rows: list[dict[str, Any]], batch_size: int, collate: Any, seed: int,
                          grouped: bool = True) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    if grouped and "input_ids" in rows[0]:
        lengths = [len(r["input_ids"]) for r in rows]
        sampler: Any = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    else:
        sampler = RandomSampler(rows, generator=generator)
    return DataLoader(rows, batch_size=batch_size, sampler=sampler, collate_fn=collate)  # type: ignore[arg-type]


def padding_ratio(loader: DataLoader) -> float:
    """Padded tokens / real tokens over one pass (1.0 means no padding)."""
    padded = real = 0
    for batch in loader:
        padded += batch["attention_mask"].numel()
        real += int(batch["attention_mask"].sum())
    return padded / max(real, 1)
