"""The shared training and inference engine strategies reuse.

Names are imported lazily: ``from tlbench.engine.options import EngineOptions`` (what a plugin's
``Options`` needs at import time) must not import torch; everything else here does.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Collator": "batching", "length_grouped_loader": "batching", "rows_of": "batching",
    "cached_features": "features",
    "ModuleFitted": "fitted", "count_parameters": "fitted", "load_trained": "fitted",
    "save_trained": "fitted",
    "Pooler": "heads", "EncoderModel": "heads", "FeatureModel": "heads", "build_head": "heads",
    "loss_function": "heads",
    "predict": "infer",
    "load_backbone": "model", "load_tokenizer": "model", "pick_device": "model",
    "setup_device": "model",
    "EngineOptions": "options",
    "train": "training",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tlbench.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tlbench.engine.{_WHERE[name]}"), name)
