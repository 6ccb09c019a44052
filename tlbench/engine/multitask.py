"""The module multitask strategies train: a head per task on one shared encoder (hard sharing) or
on one encoder per task pulled together by an L2 penalty (soft sharing)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from tlbench.engine.heads import EncoderModel
from tlbench.engine.model import load_backbone


class MultitaskModel(nn.Module):
    """``tasks[t<i>]`` is an :class:`EncoderModel` per task (module names cannot hold a suite's
    labels, hence the index); with hard sharing they hold the same encoder object, so its weights
    are counted, optimized and stored once."""

    def __init__(self, jobs: Mapping[str, Any], *, pooling: str, dropout: float, head: str,
                 sharing: str = "hard", soft_weight: float = 0.0, backbone_dtype: str = "fp32"):
        super().__init__()
        labels = list(jobs)
        first = jobs[labels[0]]
        self.keys = {label: f"t{i}" for i, label in enumerate(labels)}
        self.device = first.device
        backbone = load_backbone(first.model, dtype=backbone_dtype)
        self.tasks = nn.ModuleDict()
        for i, label in enumerate(labels):
            encoder = backbone if sharing == "hard" or i == 0 else copy.deepcopy(backbone)
            self.tasks[self.keys[label]] = EncoderModel(encoder, jobs[label].task.head, pooling, dropout,
                                                        head=head)
        self.soft_weight = soft_weight if sharing == "soft" and len(labels) > 1 else 0.0

    def for_task(self, label: str) -> EncoderModel:
        return cast(EncoderModel, self.tasks[self.keys[label]])  # a ModuleDict types its items Module

    def step_loss(self, items: list[tuple[str, dict[str, torch.Tensor], float]]) -> torch.Tensor:
        """The loss of one micro-batch: (task, batch, weight) for each task in it, plus the soft
        sharing penalty."""
        total: Any = 0.0
        for label, batch, weight in items:
            model = self.for_task(label)
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            total = total + weight * model.loss(model(**batch).float(), batch)
        if self.soft_weight:
            total = total + self.soft_weight * self.penalty()
        return total

    def penalty(self) -> torch.Tensor:
        """Sum over the encoders' weights of the squared distance from their mean across tasks."""
        encoders = [list(self.for_task(label).backbone.parameters()) for label in self.keys]
        total: Any = 0.0
        for same in zip(*encoders, strict=True):
            stacked = torch.stack([p.float() for p in same])
            total = total + ((stacked - stacked.mean(0)) ** 2).sum()
        return total
