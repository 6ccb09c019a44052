"""What a model's ``config.json`` says about it, read at validation without importing torch: the
facts a strategy needs to refuse a model before any compute (``Strategy.model_problem``).

A strategy that cannot serve a model (TAPT needs a masked-LM head; BitFit needs biases; partial
freezing and layer-wise decay need one set of weights per layer) says so when ``tlbench validate``
reads the suite, naming the strategy, the model and why, instead of failing every cell at run time.
Each fact is ``None`` where the config does not tell: validation then lets the cell go, and the
strategy's own check when the model is built still stands.

Whether a model type has a masked-LM head or is a decoder comes from transformers' own tables
(``MODEL_FOR_MASKED_LM_MAPPING_NAMES``, ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` in
``transformers/models/auto/modeling_auto.py``). Importing that module imports torch (transformers
5.x), which validation must not, so :func:`auto_model_types` reads the two literal tables from the
installed file's syntax tree (the file is not executed); when the file is not where it was, or the
tables are not literals any more, the facts are ``None``.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelFacts", "auto_model_types"]

#: config keys that give the number of transformer layers, by family
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


@functools.lru_cache(maxsize=4)
def auto_model_types(table: str) -> frozenset[str] | None:
    """The model types (config ``model_type``) of one of transformers' auto tables, e.g.
    ``"MODEL_FOR_MASKED_LM_MAPPING_NAMES"``, read from the installed source; None if unreadable."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "auto" / "modeling_auto.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id == table):
            continue
        if isinstance(value, ast.Call) and value.args:  # OrderedDict([...])
            value = value.args[0]
        try:
            pairs = ast.literal_eval(value)
        except ValueError:
            return None
        items = pairs.items() if isinstance(pairs, dict) else pairs
        return frozenset(str(pair[0]) for pair in items)
    return None


@dataclass(frozen=True)
class ModelFacts:
    """One model of a suite as its ``config.json`` describes it (plain JSON, no torch)."""

    id: str  #: the model as the suite names it
    config: Mapping[str, Any] = field(default_factory=dict)  #: config.json as read

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    @property
    def layers(self) -> int | None:
        """Transformer layers the model runs (``num_hidden_layers``, GPT-2's ``n_layer``, ...)."""
        return next((v for k in LAYER_KEYS if isinstance(v := self.config.get(k), int)), None)

    @property
    def shared_layers(self) -> bool | None:
        """Whether layers share their weights (ALBERT: ``num_hidden_groups`` sets of weights run
        ``num_hidden_layers`` times); None when the config does not say."""
        groups, layers = self.config.get("num_hidden_groups"), self.layers
        if isinstance(groups, int) and layers is not None:
            return groups < layers
        return None if self.model_type == "albert" else False

    @property
    def masked_lm(self) -> bool | None:
        """Whether transformers has a masked-LM head for this model type (AutoModelForMaskedLM)."""
        types = auto_model_types("MODEL_FOR_MASKED_LM_MAPPING_NAMES")
        return None if types is None or not self.model_type else self.model_type in types

    @property
    def decoder(self) -> bool | None:
        """A causal language model with no masked-LM variant (GPT-2, Llama, Qwen): each token sees
        only the tokens before it."""
        causal = auto_model_types("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES")
        if causal is None or self.masked_lm is None or not self.model_type:
            return None
        return self.model_type in causal and not self.masked_lm

    @property
    def biases(self) -> bool | None:
        """False when the config switches off every bias of the encoder it names (Llama's
        ``attention_bias`` and ``mlp_bias``, Qwen3's ``attention_bias``, ModernBERT's three; its
        task heads' ``decoder_bias`` and ``classifier_bias`` are not the encoder's); None when it
        names none (BERT, GPT-2, Qwen2: they have biases, but the config does not say so)."""
        flags = [v for k, v in self.config.items() if k.endswith("_bias") and isinstance(v, bool)
                 and not k.startswith(("decoder", "classifier"))]
        if not flags:
            return None
        return any(flags)

    @classmethod
    def read(cls, model_id: str, directory: Path | None) -> ModelFacts | None:
        """The facts of ``model_id`` from ``directory``'s config.json (None when there is none or
        it is not a JSON object)."""
        import json

        if directory is None or not (directory / "config.json").is_file():
            return None
        try:
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls(model_id, config) if isinstance(config, dict) else None
