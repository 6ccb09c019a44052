"""Loading tokenizers and encoders, choosing the device and its fast paths."""

from __future__ import annotations

import contextlib
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from tlbench.interfaces import ModelRef


def pick_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def setup_device(device: str) -> None:
    """TF32 matmuls on Ampere+ GPUs: a free speed-up for training with negligible accuracy cost."""
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast_dtype(device: str, precision: str) -> torch.dtype | None:
    """bf16 autocast on GPUs that support it (``auto`` or ``bf16``); none on CPU under ``auto``."""
    if precision == "fp32":
        return None
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if precision == "bf16" else None


def autocast(device: str, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=dtype)


@lru_cache(maxsize=8)
def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def load_backbone(model: ModelRef, config: Any = None) -> torch.nn.Module:
    """The bare encoder (no task head), with PyTorch's SDPA attention where supported.

    BERT-style encoders are loaded without their own pooler (a dense layer on the first token that
    tlbench's heads never read): it would count as trainable and stored while receiving no gradient.
    With ``config``, the same architecture is built from it with fresh weights (``backbone_size``).
    """
    from transformers import AutoModel

    def build(**kwargs: Any) -> torch.nn.Module:
        if config is not None:
            return AutoModel.from_config(config, **kwargs)
        return AutoModel.from_pretrained(model.path, **kwargs)

    for kwargs in ({"attn_implementation": "sdpa", "add_pooling_layer": False},
                   {"attn_implementation": "sdpa"}, {"add_pooling_layer": False}):
        try:
            return build(**kwargs)
        except (TypeError, ValueError, ImportError):  # an architecture without that option
            continue
    return build()


def hidden_size(backbone: torch.nn.Module) -> int:
    """The encoder's hidden size: its transformers config's ``hidden_size``."""
    config: Any = backbone.config  # a PretrainedConfig (or a wrapper's), not a Module or Tensor
    return config.hidden_size


@lru_cache(maxsize=8)
def backbone_size(path: str) -> tuple[int, int]:
    """``(hidden size, parameter count)`` of the encoder ``load_backbone`` would load, without its weights.

    Built on the meta device (no memory, no reading of the weight files), so a strategy that only
    needs the encoder when its cached features are missing does not load it on every fit.
    """
    from transformers import AutoConfig

    with torch.device("meta"):
        model = load_backbone(ModelRef(id=path, path=path), config=AutoConfig.from_pretrained(path))
    return hidden_size(model), sum(p.numel() for p in model.parameters())


def weights_hash(path: str) -> str:
    """sha256 over a local model directory's weight files; "" for anything else (a Hub id: its
    identity is the commit :func:`hub_revision` gives)."""
    p = Path(path)
    if not p.is_dir():
        return ""
    files = sorted(p.glob("*.safetensors")) or sorted(p.glob("*.bin"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(_file_hash(str(f), f.stat().st_size, f.stat().st_mtime_ns).encode())
    return digest.hexdigest()


@lru_cache(maxsize=32)
def _file_hash(path: str, size: int, mtime: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_revision(path: str) -> str:
    """The commit a Hub model resolved to, when transformers recorded it."""
    config = Path(path) / "config.json"
    if config.is_file():
        return ""
    try:
        from transformers import AutoConfig

        return getattr(AutoConfig.from_pretrained(path), "_commit_hash", "") or ""
    except (OSError, ValueError, json.JSONDecodeError):
        return ""
