"""Synthetic run records (``RunRecord``, validated like the runner's), for store and report tests."""

from __future__ import annotations

from typing import Any

from tlbench.record import RunRecord


def record(strategy: str = "full_finetune", task: str = "sst2", seed: int = 0, score: float = 0.8,
           status: str = "ok", items: list[float] | None = None, train_size: int | str | None = None,
           **cost: Any) -> RunRecord:
    """One run's record; ``items``: per-item correctness on the report split (``score`` is then
    their mean), for the paired tests."""
    if items is not None:
        score = sum(items) / len(items)
    size = "" if train_size is None else f"-n{train_size}"
    return RunRecord.model_validate({
        "items": {"stats": [[x] for x in items], "reduce": "mean"} if items is not None else None,
        "suite": "s", "variant": "default", "run_key": f"k-{strategy}-{task}{size}-s{seed}",
        "params": {}, "secondary_metrics": ["macro_f1"] if status == "ok" else [],
        "run_id": f"{strategy}-{task}{size}-s{seed}",
        "cell_id": f"{strategy}-{task}{size}", "train_size": train_size,
        "strategy": strategy, "strategy_name": strategy, "task": task, "task_name": task,
        "model": "m", "seed": seed, "status": status,
        "error": "" if status == "ok" else "Traceback...\nRuntimeError: out of memory",
        "primary_metric": "accuracy",
        "metrics": {"select": {"accuracy": score, "macro_f1": score},
                    "report": {"accuracy": score, "macro_f1": score}},
        "data": {"label": task,
                 "sizes": {"train": 2000 if train_size in (None, "full") else train_size, "select": 500,
                           "report": 872},
                 "sources": {"report": {"location": "/d/sst2/validation.jsonl.gz", "sha256": "ab"}},
                 "truncated_share": {"report": 0.0}},
        "cost": {"trainable_params": 22_700_000, "total_params": 22_700_000, "trainable_share": 1.0,
                 "stored_bytes": 90_000_000, "train_seconds": 75.0, "peak_memory_bytes": 1.5e9,
                 "memory_kind": "process_rss", "eval_examples_per_second": 120.0, **cost},
        "provenance": {"versions": {"tlbench": "0.1.0", "torch": "2.13.0"}, "plugins": {"tlbench": "0.1.0"},
                       "model": {"id": "m", "path": "m", "revision_or_weights_sha256": "0123456789abcdef00"},
                       "device": {"name": "cpu", "device": "cpu"}, "dtype": "float32",
                       "suite_file": "suites/s.toml", "suite_sha256": "cafe", "git": {"sha": "abc"}},
        "started_at": f"2026-01-01T00:0{seed}:00+00:00", "finished_at": f"2026-01-01T00:0{seed}:30+00:00",
    })
