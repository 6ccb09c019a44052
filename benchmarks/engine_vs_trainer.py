"""Training throughput of the tlbench engine vs the Hugging Face ``Trainer`` on the same job.

    TLBENCH_DATA_DIR=/work/shared/data python benchmarks/engine_vs_trainer.py \
        [--rows 4000] [--epochs 1] [--order engine-first|trainer-first] [--only engine|trainer]
        [--threads N] [--engine-length-grouping on|off]

One process fine-tunes the same checkpoint (default: MiniLM-L6, resolved offline like ``tlbench run``)
on the same seeded SST-2 train subset, with the same token ids and the same hyperparameters, twice:

* engine: ``tlbench.engine.train`` on ``EncoderModel`` (CLS pooling, dropout 0.1, linear head) with
  ``Collator`` and ``rows_of`` rows, length-grouped batches, ``loss_function`` — what
  ``full_finetune`` runs;
* trainer: ``AutoModelForSequenceClassification`` + ``DataCollatorWithPadding`` + ``Trainer`` in its
  usual setup (random-order batches, its default optimizer), no evaluation, no saving, no logging
  integrations, no dataloader workers.

Shared: lr, epochs, batch size, weight decay, warm-up steps (``int(warmup_ratio * total)``, as the
engine computes it), gradient clipping, linear decay, seed, fp32 on CPU. Not shared (each side's own
default, recorded in the JSON): the head (the HF model adds BERT's pooler dense+tanh and initialises
the classifier differently) and the batch order (random vs length-grouped). Both use fused AdamW.

Train time is wall time around ``train(...)`` / ``trainer.train()`` only (model loading, tokenization
and building the Trainer are outside); the process CPU seconds and the 1-minute load average before and
after are recorded too, since on a small shared machine other processes (and more torch threads than
free cores) change the wall time a lot. Real and padded tokens are counted by wrapping each side's
collator (one ``attention_mask`` sum per batch). Dev accuracy: both trained models are evaluated with
the same plain loop (``tlbench.engine.predict``: length-sorted batches of ``--eval-batch``, argmax), so
only training differs. The last line is one JSON object.

What-if (tlbench itself is unchanged): ``--engine-length-grouping off`` gives the engine random
batches (torch's ``RandomSampler`` seeded with ``--seed``, which draws the same batches as the
Trainer's sampler: compare the padded-token counts).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tlbench import get_plugins
from tlbench.engine import (
    Collator,
    EncoderModel,
    EngineOptions,
    load_backbone,
    loss_function,
    pick_device,
    predict,
    rows_of,
    setup_device,
    train,
)
from tlbench.engine.model import load_tokenizer
from tlbench.runner import _quiet_libraries, resolve_model

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class CountingCollator:
    """Wraps a collator; counts batches, real tokens (mask sum) and padded tokens (mask size)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.batches = self.rows = self.real = self.padded = 0

    def __call__(self, rows: Any) -> Any:
        batch = self.inner(rows)
        mask = batch["attention_mask"]
        self.batches += 1
        self.rows += int(mask.shape[0])
        self.real += int(mask.sum())
        self.padded += int(mask.numel())
        return batch


class LogitsOnly(nn.Module):
    """An HF ``...ForSequenceClassification`` as ``predict`` expects it: inputs in, logits out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits


def load_data(args: argparse.Namespace) -> dict[str, Any]:
    plugins = get_plugins()
    model = resolve_model(args.model, plugins)
    tokenizer = load_tokenizer(model.path)
    entry = plugins.tasks.get("sst2")
    task = entry.factory("sst2", entry.factory.Options(max_train_examples=args.rows,
                                                       max_length=args.max_length))
    data = task.load(Path(os.environ["TLBENCH_DATA_DIR"]))
    train_split, dev_split = data.splits["train"], data.splits["report"]
    return {"model": model, "tokenizer": tokenizer, "task": task,
            "train": task.encode(tokenizer, train_split[:]), "dev": task.encode(tokenizer, dev_split[:]),
            "pad_id": tokenizer.pad_token_id or 0}


def dev_accuracy(module: nn.Module, d: dict[str, Any], args: argparse.Namespace,
                 device: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    logits = predict(module, rows_of(d["dev"]), Collator(d["pad_id"]), batch_size=args.eval_batch,
                     device=device, precision="fp32")
    seconds = time.perf_counter() - t0
    return float((logits.argmax(-1) == np.asarray(d["dev"]["labels"])).mean()), seconds


def timed_call(fn: Any, *a: Any, **kw: Any) -> tuple[Any, float, float, tuple[float, float]]:
    """``fn``'s result, wall seconds, process CPU seconds and the 1-minute load average before/after."""
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0, time.process_time() - c0, (load0, os.getloadavg()[0])


def run_engine(d: dict[str, Any], args: argparse.Namespace, device: str) -> dict[str, Any]:
    from transformers import set_seed

    set_seed(args.seed)
    module = EncoderModel(load_backbone(d["model"]), d["task"].head, "cls", 0.1)  # full_finetune defaults
    for p in module.parameters():
        p.requires_grad_(True)
    options = EngineOptions(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                            evals_per_epoch=0, precision="fp32",
                            length_grouping=args.engine_length_grouping == "on")
    rows = rows_of(d["train"])
    collate = CountingCollator(Collator(d["pad_id"]))
    base_loss = loss_function(d["task"].head)
    losses: list[torch.Tensor] = []

    def loss_fn(out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = base_loss(out, batch)
        losses.append(loss.detach())
        return loss

    _, seconds, cpu, load = timed_call(train, module, rows, collate, loss_fn, options,
                                       seed=args.seed, device=device)
    acc, eval_seconds = dev_accuracy(module, d, args, device)
    attn = module.backbone.config._attn_implementation
    del module
    gc.collect()
    return {"train_seconds": seconds, "samples": collate.rows, "steps": collate.batches,
            "real_tokens": collate.real, "padded_tokens": collate.padded, "dev_acc": acc,
            "eval_seconds": eval_seconds, "train_loss": float(torch.stack(losses).mean()),
            "cpu_seconds": cpu, "loadavg_before_after": load, "attn": attn,
            "optimizer": "torch.optim.AdamW fused", "weight_decay": options.weight_decay,
            "warmup_ratio": options.warmup_ratio, "grad_clip": options.grad_clip}


def run_trainer(d: dict[str, Any], args: argparse.Namespace, device: str) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    defaults = EngineOptions()
    set_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(d["model"].path, num_labels=2)
    ids = d["train"]["input_ids"]
    dataset = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                                 "label": d["train"]["labels"]})
    steps = max(1, math.ceil(math.ceil(len(ids) / args.batch_size) * args.epochs))
    collate = CountingCollator(DataCollatorWithPadding(d["tokenizer"]))
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, learning_rate=args.lr, num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size, weight_decay=defaults.weight_decay,
            warmup_steps=int(defaults.warmup_ratio * steps), max_grad_norm=defaults.grad_clip,
            lr_scheduler_type="linear", eval_strategy="no", save_strategy="no", logging_strategy="no",
            report_to="none", dataloader_num_workers=0, seed=args.seed, disable_tqdm=True,
            use_cpu=device == "cpu")
        trainer = Trainer(model=model, args=targs, train_dataset=dataset, data_collator=collate)
        trainer.remove_callback(PrinterCallback)  # its metrics are in the JSON (trainer_reported_...)
        result, seconds, cpu, load = timed_call(trainer.train)
    acc, eval_seconds = dev_accuracy(LogitsOnly(model), d, args, device)
    attn = model.config._attn_implementation
    del trainer, model
    gc.collect()
    return {"train_seconds": seconds, "samples": collate.rows, "steps": collate.batches,
            "real_tokens": collate.real, "padded_tokens": collate.padded, "dev_acc": acc,
            "eval_seconds": eval_seconds, "train_loss": float(result.training_loss),
            "cpu_seconds": cpu, "loadavg_before_after": load,
            "reported_samples_per_s": float(result.metrics.get("train_samples_per_second", 0.0)),
            "attn": attn, "optimizer": str(getattr(targs.optim, "value", targs.optim)),
            "warmup_steps": targs.warmup_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--rows", type=int, default=4000, help="SST-2 train rows (seeded subset)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--eval-batch", type=int, default=EngineOptions().eval_batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=("engine-first", "trainer-first"), default="engine-first")
    parser.add_argument("--only", choices=("engine", "trainer"), help="run one side (for profiling)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--engine-length-grouping", choices=("on", "off"), default="on",
                        help="off: the engine's random batches (same seeded permutation as the Trainer's)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    _quiet_libraries()
    device = pick_device(args.device)
    setup_device(device)
    d = load_data(args)
    lengths = [len(x) for x in d["train"]["input_ids"]]
    print(f"model {d['model'].id} ({d['model'].path}); device {device}; torch threads "
          f"{torch.get_num_threads()}; train rows {len(lengths)} (mean {np.mean(lengths):.1f}, max "
          f"{max(lengths)} tokens); dev rows {len(d['dev']['labels'])}; order {args.order}", flush=True)

    sides = ["engine", "trainer"] if args.order == "engine-first" else ["trainer", "engine"]
    if args.only:
        sides = [args.only]
    results: dict[str, dict[str, Any]] = {}
    for side in sides:
        r = (run_engine if side == "engine" else run_trainer)(d, args, device)
        r["samples_per_s"] = r["samples"] / r["train_seconds"]
        r["samples_per_cpu_s"] = r["samples"] / max(r["cpu_seconds"], 1e-9)
        results[side] = r
        print(f"{side:8s} train {r['train_seconds']:7.2f} s  {r['samples_per_s']:7.2f} samples/s  "
              f"{r['steps']} steps  tokens real {r['real_tokens']} padded {r['padded_tokens']} "
              f"(x{r['padded_tokens'] / max(r['real_tokens'], 1):.2f})  loss {r['train_loss']:.4f}  "
              f"dev acc {r['dev_acc']:.4f} (eval {r['eval_seconds']:.1f} s)  cpu {r['cpu_seconds']:.0f} s  "
              f"load {r['loadavg_before_after'][0]:.2f}->{r['loadavg_before_after'][1]:.2f}  "
              f"optim {r['optimizer']}", flush=True)

    summary: dict[str, Any] = {
        "order": args.order if not args.only else f"only-{args.only}", "first": sides[0],
        "model": d["model"].id, "device": device, "torch_threads": torch.get_num_threads(),
        "rows": len(lengths), "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "max_length": args.max_length, "seed": args.seed, "dev_rows": len(d["dev"]["labels"]),
        "engine_length_grouping": args.engine_length_grouping,
        "cpu_count": os.cpu_count(),
        "dev_eval": "same loop for both: tlbench.engine.predict, length-sorted, batch "
                    f"{args.eval_batch}, fp32",
    }
    for side, r in results.items():
        for key in ("samples_per_s", "samples_per_cpu_s", "train_seconds", "dev_acc", "real_tokens",
                    "padded_tokens", "steps", "train_loss", "eval_seconds", "cpu_seconds",
                    "loadavg_before_after", "attn", "optimizer"):
            summary[f"{side}_{key}"] = r[key]
    if "trainer" in results:
        summary["trainer_reported_samples_per_s"] = results["trainer"]["reported_samples_per_s"]
        summary["trainer_warmup_steps"] = results["trainer"]["warmup_steps"]
    if len(results) == 2:
        summary["ratio"] = results["engine"]["samples_per_s"] / results["trainer"]["samples_per_s"]
        summary["ratio_cpu"] = (results["engine"]["samples_per_cpu_s"]
                                / results["trainer"]["samples_per_cpu_s"])
        print(f"engine / trainer throughput: {summary['ratio']:.2f}x (per CPU second: "
              f"{summary['ratio_cpu']:.2f}x)", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
