"""The training loop every engine-based strategy shares.

AdamW (fused, on CUDA and CPU) with decoupled weight decay off for biases and norms, linear
warm-up and decay (transformers' scheduler), gradient clipping, bf16 autocast on capable GPUs, length-grouped
batches, and evaluations on the selection split reported as intermediate values (for pruning).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from tlbench.engine.batching import length_grouped_loader
from tlbench.engine.heads import Loss
from tlbench.engine.model import autocast, autocast_dtype
from tlbench.engine.options import EngineOptions
from tlbench.progress import NullProgress


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]



def train(module: nn.Module, rows: list[dict[str, Any]], collate: Callable[..., dict[str, torch.Tensor]],
          loss_fn: Loss, options: EngineOptions, *, seed: int, device: str,
          evaluate: Callable[[], float] | None = None, report: Callable[[int, float], None] | None = None,
          progress: Any = None, description: str = "training") -> list[tuple[int, float]]:
    """Train ``module`` in place; return the (step, selection score) pairs evaluated on the way.

    A step is one optimizer update over ``batch_size`` rows, taken as ``grad_accum_steps``
    micro-batches (each loss divided by their number). With ``early_stopping_patience``, training
    stops once that many evaluations in a row did not beat the best, and the best weights come back.
    """
    from transformers import set_seed

    set_seed(seed)  # Python, numpy and torch (and CUDA) generators; the data order has its own seed
    accum = options.grad_accum_steps
    loader = length_grouped_loader(rows, options.batch_size // accum, collate, seed, options.length_grouping)
    steps_per_epoch = max(1, len(loader) // accum)
    total = max(1, math.ceil(steps_per_epoch * options.epochs))

    def batches() -> Any:
        while True:
            yield from loader

    def step_loss(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return loss_fn(module(**batch).float(), batch)

    return run_steps(module, batches(), step_loss, options, total=total, steps_per_epoch=steps_per_epoch,
                     device=device, evaluate=evaluate, report=report, progress=progress,
                     description=description)


def run_steps(module: nn.Module, batches: Iterator[Any], step_loss: Callable[[Any], torch.Tensor],
              options: EngineOptions, *, total: int, steps_per_epoch: int, device: str,
              evaluate: Callable[[], float] | None = None, report: Callable[[int, float], None] | None = None,
              progress: Any = None, description: str = "training") -> list[tuple[int, float]]:
    """The optimization loop: ``total`` optimizer steps over micro-batches drawn from ``batches``,
    each turned into a loss by ``step_loss`` (under autocast). Strategies with their own batch
    streams (multitask: a task per batch) reuse it; :func:`train` is the single-task case."""
    progress = progress or NullProgress()
    module.to(device).train()
    accum = options.grad_accum_steps
    trainable = [p for p in module.parameters() if p.requires_grad]
    # the fused implementation runs on CUDA and (since torch 2.4) on CPU, where it is ~7x faster per
    # step than the default for-each one (137 vs 19 ms for MiniLM, benchmarks/engine_vs_trainer.py)
    fused = device.split(":")[0] in ("cuda", "cpu")
    optimizer = torch.optim.AdamW(_param_groups(module, options.weight_decay), lr=options.lr,
                                  fused=fused or None)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(options.warmup_ratio * total), total)
    dtype = autocast_dtype(device, options.precision)
    every = max(1, steps_per_epoch // options.evals_per_epoch) if options.evals_per_epoch else 0
    stopper = _EarlyStopping(module, options.early_stopping_patience)
    curve: list[tuple[int, float]] = []
    step = micro = 0
    with progress.task(description, total) as advance:
        for batch in batches:
            with autocast(device, dtype):
                loss = step_loss(batch)
            if not torch.isfinite(loss):  # fail the run now, not after hours of NaN weights
                value = loss.detach().item()
                raise FloatingPointError(f"non-finite training loss ({value}) at step {step}; "
                                         f"lower lr (now {options.lr:g}) or use fp32")
            (loss / accum if accum > 1 else loss).backward()
            micro += 1
            if micro % accum:
                continue
            torch.nn.utils.clip_grad_norm_(trainable, options.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            advance(1)
            if evaluate and every and (step % every == 0 or step == total):
                value = evaluate()
                module.train()
                curve.append((step, value))
                if report:
                    report(step, value)
                stopper.update(value)
            if step >= total or stopper.stop:
                break
    stopper.restore()
    module.eval()
    return curve


class _EarlyStopping:
    """Keeps a CPU copy of the trained state at the best selection score (only when enabled)."""

    def __init__(self, module: nn.Module, patience: int):
        self.module, self.patience = module, patience
        self.best = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad = 0
        self.stop = False

    def update(self, value: float) -> None:
        if not self.patience:
            return
        if value > self.best:
            from tlbench.engine.fitted import trained_state

            # cloned: on CPU, detach().cpu() shares storage with the live weights
            self.best, self.bad = value, 0
            self.best_state = {k: v.clone() for k, v in trained_state(self.module).items()}
        else:
            self.bad += 1
            self.stop = self.bad >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state, strict=False)
