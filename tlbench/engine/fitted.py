"""A :class:`Fitted` for any torch module trained by the engine.

What a user must store per task is exactly the parameters that trained (the rest is the public
pretrained checkpoint), written as safetensors; loading rebuilds the module and reads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tlbench.engine.infer import predict
from tlbench.interfaces import Fitted, Role

STATE_FILE = "trained.safetensors"


def count_parameters(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def trained_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters, plus the buffers of submodules whose state is buffers (a kNN
    memory): everything a user must store besides the public pretrained checkpoint."""
    state = {n: p.detach().cpu().contiguous() for n, p in module.named_parameters() if p.requires_grad}
    for prefix, sub in module.named_modules():
        if getattr(sub, "stores_buffers", False):
            for n, b in sub.named_buffers(prefix=prefix, recurse=False):
                state[n] = b.detach().cpu().contiguous()
    return state


def save_trained(module: nn.Module, directory: Path) -> Path:
    state = trained_state(module)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(state, str(directory / STATE_FILE))
    return directory / STATE_FILE


def load_trained(module: nn.Module, directory: Path) -> nn.Module:
    state = load_file(str(directory / STATE_FILE))
    buffers = dict(module.named_buffers())
    missing = set(state) - {n for n, _ in module.named_parameters()} - set(buffers)
    if missing:
        raise ValueError(f"{directory / STATE_FILE} has parameters the model lacks: {sorted(missing)[:5]}")
    for name in set(state) & set(buffers):  # buffers may change shape (a kNN memory): set them whole
        owner, _, attr = name.rpartition(".")
        setattr(module.get_submodule(owner) if owner else module, attr, state.pop(name))
    module.load_state_dict(state, strict=False)
    return module


class ModuleFitted(Fitted):
    """``rows(role)`` gives the rows to predict (token ids, or cached features).

    ``compute``: what the training consumed (``tlbench.engine.training.Compute``, filled by the
    loop), which the runner writes into the record's ``Cost``; None: not counted."""

    compute: Any = None

    def __init__(self, module: nn.Module, rows: Callable[[Role], list[dict[str, Any]]],
                 collate: Callable[..., Any], *, device: str, batch_size: int, precision: str,
                 total_parameters: int | None = None):
        self.module, self.rows, self.collate = module, rows, collate
        self.device, self.batch_size, self.precision = device, batch_size, precision
        self._total = total_parameters

    def predict(self, role: Role) -> np.ndarray:
        return predict(self.module, self.rows(role), self.collate, batch_size=self.batch_size,
                       device=self.device, precision=self.precision)

    def parameter_counts(self) -> tuple[int, int]:
        trainable, total = count_parameters(self.module)
        return trainable, self._total if self._total is not None else total

    def save(self, directory: Path) -> None:
        save_trained(self.module, directory)
