"""The training loop every engine-based strategy shares.

AdamW (fused, on CUDA and CPU) with decoupled weight decay off for biases and norms (and, as an
option, layer-wise learning-rate decay), linear
warm-up and decay (transformers' scheduler), gradient clipping, bf16 autocast on capable GPUs, length-grouped
batches, and evaluations on the selection split reported as intermediate values (for pruning).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tlbench.engine.batching import length_grouped_loader
from tlbench.engine.heads import Loss
from tlbench.engine.model import autocast, autocast_dtype
from tlbench.engine.options import EngineOptions
from tlbench.progress import NullProgress


def param_groups(module: nn.Module, options: EngineOptions) -> list[dict[str, Any]]:
    """AdamW's parameter groups: decoupled weight decay off for biases and norms; with
    ``layer_decay`` (an option of :class:`tlbench.EncoderOptions`), one group per (depth, decay or
    not) whose learning rate is ``lr x layer_decay ** depth``
    (:func:`tlbench.engine.layers.layer_depths`: the head 0, the top layer 1, the embeddings ``L + 1``)."""
    layer_decay = getattr(options, "layer_decay", None)  # EncoderOptions' (the engine strategies')
    scales: dict[int, float] = {}
    if layer_decay is not None:
        from tlbench.engine.layers import decayed_lr_scales

        scales = decayed_lr_scales(module, layer_decay)
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (p.ndim < 2 or "norm" in name.lower())
        groups.setdefault((scales.get(id(p), 1.0), decays), []).append(p)
    if layer_decay is None:  # the two groups, in the order they always had
        return [{"params": groups.get((1.0, True), []), "weight_decay": options.weight_decay},
                {"params": groups.get((1.0, False), []), "weight_decay": 0.0}]
    return [{"params": params, "weight_decay": options.weight_decay if decays else 0.0,
             "lr": options.lr * scale}
            for (scale, decays), params in sorted(groups.items(), key=lambda kv: (-kv[0][0], not kv[0][1]))]


def adamw(module: nn.Module, options: EngineOptions, device: str,
          groups: list[dict[str, Any]] | None = None) -> torch.optim.Optimizer:
    """The engine's optimizer: AdamW over :func:`param_groups` (or ``groups``), fused where torch
    has the fused kernel."""
    # the fused implementation runs on CUDA and (since torch 2.4) on CPU, where it is ~7x faster per
    # step than the default for-each one (137 vs 19 ms for MiniLM, benchmarks/engine_vs_trainer.py)
    fused = device.split(":")[0] in ("cuda", "cpu")
    return torch.optim.AdamW(groups if groups is not None else param_groups(module, options), lr=options.lr,
                             fused=fused or None)


#: builds the optimizer for a module already on its device (a strategy's own, e.g. LoRA+'s groups)
OptimizerFactory = Callable[[nn.Module], torch.optim.Optimizer]


def train(module: nn.Module, rows: list[dict[str, Any]], collate: Callable[..., dict[str, torch.Tensor]],
          loss_fn: Loss, options: EngineOptions, *, seed: int, device: str,
          evaluate: Callable[[], float] | None = None, report: Callable[[int, float], None] | None = None,
          progress: Any = None, description: str = "training",
          count: Compute | None = None, make_optimizer: OptimizerFactory | None = None,
          ) -> list[tuple[int, float]]:
    """Train ``module`` in place; return the (step, selection score) pairs evaluated on the way.
    ``count`` (a :class:`Compute`) is filled with the steps, epochs, examples and tokens trained on.

    A step is one optimizer update over ``batch_size`` rows, taken as ``grad_accum_steps``
    micro-batches (each loss divided by their number). The run takes ``max_steps`` steps when set,
    else ``epochs`` passes (the data cycles: more steps than one pass allows are fine). With
    ``early_stopping_patience``, training stops once that many scheduled evaluations in a row did not
    beat the best; with it or ``checkpoint = "best"`` the best evaluation's weights come back.
    """
    from transformers import set_seed

    set_seed(seed)  # Python, numpy and torch (and CUDA) generators; the data order has its own seed
    accum = options.grad_accum_steps
    loader = length_grouped_loader(rows, options.batch_size // accum, collate, seed, options.length_grouping)
    steps_per_epoch = max(1, len(loader) // accum)
    total = options.max_steps or max(1, math.ceil(steps_per_epoch * options.epochs))

    def batches() -> Any:
        while True:
            yield from loader

    def step_loss(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return loss_fn(module(**batch).float(), batch)

    return run_steps(module, batches(), step_loss, options, total=total, steps_per_epoch=steps_per_epoch,
                     micro_batches_per_epoch=len(loader), device=device, evaluate=evaluate, report=report,
                     progress=progress, description=description, count=count,
                     make_optimizer=make_optimizer)


def run_steps(module: nn.Module, batches: Iterator[Any], step_loss: Callable[[Any], torch.Tensor],
              options: EngineOptions, *, total: int, steps_per_epoch: int, device: str,
              micro_batches_per_epoch: float | None = None,
              evaluate: Callable[[], float] | None = None, report: Callable[[int, float], None] | None = None,
              progress: Any = None, description: str = "training",
              count: Compute | None = None, make_optimizer: OptimizerFactory | None = None,
              ) -> list[tuple[int, float]]:
    """The optimization loop: ``total`` optimizer steps over micro-batches drawn from ``batches``,
    each turned into a loss by ``step_loss`` (under autocast). Strategies with their own batch
    streams (multitask: a task per batch) reuse it; :func:`train` is the single-task case.
    Evaluations: the schedule (``evals_per_epoch``, and the last step) is reported to ``report``
    (the tuning pruner) and counted by early stopping; the ``min_evals`` steps spread over the run
    (:func:`spread_steps`) go only into the curve and the best-checkpoint choice. An evaluation runs
    in eval mode and draws no random numbers, so it never changes the training itself.
    ``count``: filled with what the loop consumed (:class:`Compute`); its epochs are the micro-batches
    drawn over ``micro_batches_per_epoch`` (one pass over the training rows; :func:`train` gives its
    loader's length), by default ``steps_per_epoch x grad_accum_steps``. ``make_optimizer``: the
    strategy's own optimizer for the module (default :func:`adamw`); the schedule scales every
    group's own learning rate."""
    progress = progress or NullProgress()
    module.to(device).train()
    accum = options.grad_accum_steps
    if count is not None:  # counts every micro-batch as the loop draws it
        per_epoch = micro_batches_per_epoch or steps_per_epoch * accum
        batches = count.watch(batches, accum=accum, micro_batches_per_epoch=per_epoch)
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = make_optimizer(module) if make_optimizer else adamw(module, options, device)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(options.warmup_ratio * total), total)
    dtype = autocast_dtype(device, options.precision)
    every = max(1, steps_per_epoch // options.evals_per_epoch) if options.evals_per_epoch else 0
    extra = spread_steps(total, options.min_evals)
    stopper = _EarlyStopping(module, options.early_stopping_patience, options.restores_best)
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
            scheduled = bool(every) and (step % every == 0 or step == total)
            if evaluate and (scheduled or step in extra):
                value = evaluate()
                module.train()
                curve.append((step, value))
                if report and scheduled:
                    report(step, value)
                stopper.update(value, scheduled)
            if step >= total or stopper.stop:
                break
    stopper.restore()
    module.eval()
    return curve


def spread_steps(total: int, count: int) -> set[int]:
    """``count`` steps spread evenly over ``1..total``, the last one ``total`` (fewer when ``total``
    is smaller: each step once)."""
    return {max(1, math.ceil(total * i / count)) for i in range(1, count + 1)} if count else set()


class _EarlyStopping:
    """Keeps a CPU copy of the trained state at the best selection score (when ``keep_best``), and
    stops after ``patience`` scheduled evaluations in a row without a new best among them."""

    def __init__(self, module: nn.Module, patience: int, keep_best: bool):
        self.module, self.patience, self.keep_best = module, patience, keep_best
        self.best = self.scheduled_best = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad = 0
        self.stop = False

    def update(self, value: float, scheduled: bool = True) -> None:
        if self.keep_best and value > self.best:
            from tlbench.engine.fitted import trained_state

            # cloned: on CPU, detach().cpu() shares storage with the live weights
            self.best = value
            self.best_state = {k: v.clone() for k, v in trained_state(self.module).items()}
        if not (self.patience and scheduled):
            return
        if value > self.scheduled_best:
            self.scheduled_best, self.bad = value, 0
        else:
            self.bad += 1
            self.stop = self.bad >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state, strict=False)


@dataclass
class Compute:
    """What a training consumed, for the record's ``Cost`` (``tlbench.record.Cost``): counted by
    :func:`run_steps` (``count=``) as its loop draws micro-batches, so it is what really trained,
    early stopping included. A strategy hands it to the runner as its ``Fitted``'s ``compute``.

    A micro-batch is a mapping of tensors (``input_ids``, ``attention_mask``, ``features``,
    ``labels`` ...) or a list of items holding such mappings (multitask: (task, batch, weight)).
    Tokens are counted where a batch has ``input_ids`` (what the encoder reads while training): a
    probe's head trains on cached features, and the probe sets ``tokens`` to its feature extraction's.
    """

    #: optimizer updates (each over ``grad_accum_steps`` micro-batches)
    optimizer_steps: int = 0
    #: passes over the training rows: the micro-batches drawn over the micro-batches of one pass (the
    #: loader's length; not the steps over ``len // grad_accum_steps``, which overstates the passes when
    #: the micro-batches of an epoch do not divide by it): 2.0 for two full epochs, 0.5 for half of one
    epochs: float = 0.0
    #: rows over every micro-batch drawn (a short last batch counts its real rows)
    examples_seen: int = 0
    #: real tokens (``attention_mask`` sum) and every position, padding included (``input_ids`` numel)
    tokens: int = 0
    padded_tokens: int = 0
    #: one-off work the training needs that later runs read back from a cache (the probe's feature
    #: extraction), in seconds: this run's when it did it, else the cache's record of it
    oneoff_seconds: float = 0.0
    #: the part of ``oneoff_seconds`` inside this run's ``fit`` (0 when the cache had it)
    oneoff_seconds_here: float = 0.0
    micro_batches: int = 0

    def watch(self, batches: Iterator[Any], *, accum: int, micro_batches_per_epoch: float) -> Iterator[Any]:
        """``batches``, counted as they are drawn: the loop draws ``accum`` micro-batches per step and
        stops right after a step, so the steps are the micro-batches drawn over ``accum``, and the
        epochs the micro-batches drawn over ``micro_batches_per_epoch`` (those of one pass)."""
        for batch in batches:
            self.micro_batches += 1
            for part in _mappings(batch):
                self.examples_seen += _rows(part)
                ids = part.get("input_ids")
                if isinstance(ids, torch.Tensor):
                    mask = part.get("attention_mask")
                    self.padded_tokens += ids.numel()
                    self.tokens += int(mask.sum()) if isinstance(mask, torch.Tensor) else ids.numel()
            self.optimizer_steps = self.micro_batches // accum
            self.epochs = self.micro_batches / max(1.0, micro_batches_per_epoch)
            yield batch

    def cost_fields(self, train_seconds: float) -> dict[str, Any]:
        """The record's ``Cost`` compute fields, given the run's ``train_seconds`` (which holds the
        one-off work done here: the run's own training is the rest)."""
        return {"optimizer_steps": self.optimizer_steps, "epochs": self.epochs,
                "examples_seen": self.examples_seen, "tokens": self.tokens,
                "padded_tokens": self.padded_tokens, "oneoff_seconds": self.oneoff_seconds,
                "own_train_seconds": max(0.0, train_seconds - self.oneoff_seconds_here)}


def _mappings(batch: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(batch, Mapping):
        yield batch
    elif isinstance(batch, list | tuple):
        for item in batch:
            yield from _mappings(item)


def _rows(batch: Mapping[str, Any]) -> int:
    for key in ("input_ids", "features", "labels"):
        value = batch.get(key)
        if isinstance(value, torch.Tensor) and value.ndim:
            return int(value.shape[0])
    return next((int(v.shape[0]) for v in batch.values() if isinstance(v, torch.Tensor) and v.ndim), 0)
