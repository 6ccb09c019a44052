"""A strategy refuses a model it cannot serve when the suite is validated, from the model's
config.json alone (``Strategy.model_problem`` with :class:`tlbench.ModelFacts`), before any compute
and without torch: TAPT on a decoder, BitFit on a model without biases, partial freezing and
layer-wise decay on ALBERT's shared layers, more frozen layers than the model has (issues 19, 20)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_model_checks import model_dir
from tlbench import ConfigError, ModelFacts, load_suite
from tlbench.model_facts import auto_model_types

BERT = {"model_type": "bert", "num_hidden_layers": 2}
GPT2 = {"model_type": "gpt2", "n_layer": 2}
LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "attention_bias": False, "mlp_bias": False}
QWEN2 = {"model_type": "qwen2", "num_hidden_layers": 2}
ALBERT = {"model_type": "albert", "num_hidden_layers": 4, "num_hidden_groups": 1}
MODERNBERT = {"model_type": "modernbert", "num_hidden_layers": 2, "norm_bias": False, "attention_bias": False,
              "mlp_bias": False, "decoder_bias": True, "classifier_bias": False}


@pytest.mark.parametrize(("config", "layers", "masked_lm", "decoder", "biases", "shared"), [
    (BERT, 2, True, False, None, False),
    (GPT2, 2, False, True, None, False),
    (LLAMA, 2, False, True, False, False),
    (QWEN2, 2, False, True, None, False),
    (ALBERT, 4, True, False, None, True),
    ({**ALBERT, "num_hidden_groups": 4}, 4, True, False, None, False),
    (MODERNBERT, 2, True, False, False, False),  # its MLM head's decoder_bias is not the encoder's
    ({"model_type": "albert"}, None, True, False, None, None),
    ({}, None, None, None, None, False),
])
def test_what_a_config_tells(config, layers, masked_lm, decoder, biases, shared):
    facts = ModelFacts("m", config)
    assert (facts.layers, facts.masked_lm, facts.decoder, facts.biases, facts.shared_layers) == \
        (layers, masked_lm, decoder, biases, shared)


def test_the_tables_read_from_the_source_are_transformers_own_and_need_no_torch():
    """The syntax-tree reading gives exactly what importing transformers gives, and imports no torch."""
    code = textwrap.dedent("""
        import sys
        from tlbench.model_facts import auto_model_types
        tables = {t: sorted(auto_model_types(t)) for t in
                  ("MODEL_FOR_MASKED_LM_MAPPING_NAMES", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES")}
        assert "torch" not in sys.modules
        from transformers.models.auto import modeling_auto as m
        for t, names in tables.items():
            assert names == sorted(getattr(m, t)), t
        print(len(tables["MODEL_FOR_MASKED_LM_MAPPING_NAMES"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 20
    assert auto_model_types("NO_SUCH_TABLE") is None


def _suite(tmp_path: Path, config: dict[str, Any], strategies: str) -> str:
    """The problems ``load_suite`` reports for ``strategies`` on one model with ``config`` ("" when
    the suite loads)."""
    d = model_dir(tmp_path)
    (d / "config.json").write_text(json.dumps({"vocab_size": 8, "max_position_embeddings": 64, **config}))
    path = tmp_path / "suite.toml"
    path.write_text(f'models = ["{d}"]\nseeds = [0]\n[tasks.sst2]\nmax_length = 32\n\n{strategies}')
    try:
        load_suite(path, check_data=False)
    except ConfigError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize(("config", "strategies", "message"), [
    (GPT2, "[strategies.tapt]\n", "tapt pretrains with a masked-LM head, and"),
    (LLAMA, "[strategies.tapt]\n", "is a causal decoder of type 'llama'"),
    (LLAMA, "[strategies.bitfit]\n", "bitfit trains the encoder's biases, and"),
    (MODERNBERT, "[strategies.bitfit]\n", "(modernbert) has none"),
    (ALBERT, "[strategies.partial_freeze]\n", "partial_freeze cannot freeze 3 layer(s) of"),
    (ALBERT, "[strategies.full_finetune]\nlayer_decay = 0.8\n", "layer_decay needs one set of weights"),
    (ALBERT, '[strategies.tapt]\ninner = "partial_freeze"\n', "partial_freeze cannot freeze 3 layer(s)"),
    (BERT, "[strategies.partial_freeze]\nfrozen_layers = 5\n", "frozen_layers = 5, but"),
])
@pytest.mark.usefixtures("installed_plugins")  # bitfit is a third-party plugin
def test_validation_refuses_a_model_the_strategy_cannot_serve(tmp_path, config, strategies, message):
    problems = _suite(tmp_path, config, strategies)
    assert message in problems
    label = strategies.split("]")[0].removeprefix("[strategies.")
    assert f"strategies.{label} with models[0]" in problems


@pytest.mark.parametrize(("config", "strategies"), [
    ({**BERT, "num_hidden_layers": 6}, "[strategies.tapt]\n[strategies.bitfit]\n[strategies.partial_freeze]\n"
           "[strategies.full_finetune]\nlayer_decay = 0.8\n"),
    (QWEN2, "[strategies.bitfit]\n"),  # Qwen2 has biases its config does not name
    (ALBERT, "[strategies.partial_freeze]\nfrozen_layers = 0\n[strategies.full_finetune]\n"),
    (MODERNBERT, "[strategies.tapt]\n"),
])
@pytest.mark.usefixtures("installed_plugins")
def test_validation_lets_a_model_the_strategy_serves_go(tmp_path, config, strategies):
    assert _suite(tmp_path, config, strategies) == ""
