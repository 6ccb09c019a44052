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


def check_backbone_dtype(dtype: str, device: str, precision: str) -> None:
    """A bf16 backbone computes under bf16 autocast only (its frozen bf16 weights meet fp32 inputs,
    heads and trainable parameters): ValueError when this device and ``precision`` give none."""
    if dtype == "bf16" and autocast_dtype(device, precision) is None:
        raise ValueError(f"backbone_dtype = 'bf16' needs bf16 autocast, which precision = {precision!r} "
                         f"does not give on {device}: set precision = 'bf16' (or hold the backbone in fp32)")


def train_in_fp32(model: torch.nn.Module) -> None:
    """Every parameter that trains held in fp32 (master weights): a backbone held in bf16 keeps its
    frozen weights there, and what the optimizer updates (adapters, unfrozen layers, the head) is
    never rounded to bf16 between steps."""
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()


def autocast(device: str, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=dtype)


@lru_cache(maxsize=8)
def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


#: ``backbone_dtype`` option -> the torch dtype a backbone's weights are held in
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def load_backbone(model: ModelRef, config: Any = None, *, dtype: str = "fp32") -> torch.nn.Module:
    """The bare encoder (no task head), with PyTorch's SDPA attention where supported, else eager.

    Its weights are held in ``dtype`` (``fp32``, or ``bf16`` for a large frozen backbone), whatever
    the checkpoint's: transformers 5 otherwise keeps a checkpoint's own dtype, and most decoder LLMs
    on the Hub are saved in bf16, which fed bf16 states into the fp32 heads (and would have trained
    bf16 weights with AdamW).

    BERT-style encoders are loaded without their own pooler (a dense layer on the first token that
    tlbench's heads never read): it would count as trainable and stored while receiving no gradient.
    With ``config``, the same architecture is built from it with fresh weights (``backbone_size``).
    An architecture without SDPA (DeBERTa-v2 in transformers 5) falls back to ``eager`` attention;
    every attempt builds from its own copy of ``config`` (a failed attempt may have set its
    attention implementation).
    """
    import copy

    from transformers import AutoModel

    held = getattr(torch, DTYPES[dtype])

    def build(**kwargs: Any) -> torch.nn.Module:
        if config is not None:
            return AutoModel.from_config(copy.deepcopy(config), dtype=held, **kwargs)
        return AutoModel.from_pretrained(model.path, dtype=held, **kwargs)

    errors: list[str] = []
    for attention in ("sdpa", "eager"):
        for extra in ({"add_pooling_layer": False}, {}):
            try:
                return build(attn_implementation=attention, **extra)
            except (TypeError, ValueError, ImportError) as exc:  # an architecture without that option
                errors.append(f"{attention}{' without pooler' if extra else ''}: {exc}")
    try:
        return build()
    except (TypeError, ValueError, ImportError) as exc:
        raise ValueError(f"could not load {model.path!r} as a bare encoder ({'; '.join(errors)}); "
                         f"plainly: {exc}") from exc


def attention_implementation(backbone: torch.nn.Module) -> str:
    """The attention implementation the loaded backbone runs (``sdpa``, ``eager``, ...)."""
    config: Any = getattr(backbone, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "unknown")


def is_decoder(config: Any) -> bool:
    """A causal (decoder-only) model: each token sees only the tokens before it, so the first token
    has seen nothing but itself. Generic rule: the config says ``is_decoder``, or transformers maps
    the model type to a causal language model and not to a masked one (BERT-style encoders have
    both heads; GPT-2, Llama, Qwen2 only the causal one)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_decoder", False):
        return True
    kind = getattr(config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def uses_token_types(config: Any) -> bool:
    """Whether segment ids are fed to the model: it has a token type embedding of more than one row
    (BERT's 2; RoBERTa's single row would fail on a BERT tokenizer's segment 1, GPT-2 would add word
    embeddings for them, DeBERTa-v2 and decoders have none)."""
    return int(getattr(config, "type_vocab_size", 0) or 0) > 1


def position_limit(backbone: torch.nn.Module) -> int | None:
    """The longest input the model's position embeddings cover (None when the config gives no
    limit): ``max_position_embeddings`` (GPT-2: ``n_positions``), less the positions RoBERTa-style
    embeddings reserve below their padding index (their position embedding has ``padding_idx``).
    The config keys are :func:`tlbench.model_checks.config_position_limit`'s, which validation
    reads from config.json (without the module, so without the reserved positions)."""
    from tlbench.model_checks import config_position_limit

    reserved = 0
    for module in backbone.modules():
        positions = getattr(module, "position_embeddings", None)
        padding = getattr(positions, "padding_idx", None)
        if isinstance(positions, torch.nn.Embedding) and padding is not None:
            reserved = padding + 1
            break
    found = config_position_limit(getattr(backbone, "config", None), reserved)
    return found[0] if found else None


def check_max_length(backbone: torch.nn.Module, max_length: int | None) -> None:
    """ValueError naming both numbers when the task's ``max_length`` exceeds the model's positions."""
    limit = position_limit(backbone)
    if max_length is not None and limit is not None and max_length > limit:
        raise ValueError(f"the task's max_length ({max_length}) is above the model's position limit "
                         f"({limit}, from max_position_embeddings of {type(backbone).__name__}): lower "
                         "the task's max_length")


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
