"""``gradient_checkpointing = true`` (issue 19, large backbones): each layer's activations are
recomputed in the backward pass (the layers run twice per training step), and training ends with the
same model as without it, for full fine-tuning and for LoRA on an encoder and a decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.plugins.test_families import write_family
from tlbench.interfaces import ModelRef
from tlbench.testing import build_strategy, toy_job

torch = pytest.importorskip("torch")


def _strategy(name: str, **options: Any) -> Any:
    return build_strategy(name, options)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelRef]:
    root = tmp_path_factory.mktemp("checkpointing")
    return {f: ModelRef(f"tiny-{f}", str(write_family(root / f, f)), "test") for f in ("bert", "llama")}


def _job(model: ModelRef, cache: Path) -> Any:
    return toy_job(model, cache, max_train_examples=32, max_eval_examples=16, select_examples=16,
                   max_length=16)


@pytest.mark.parametrize(("family", "strategy"), [("bert", "full_finetune"), ("bert", "lora"),
                                                  ("llama", "lora")])
def test_checkpointing_recomputes_and_trains_the_same_model(family, strategy, models, tmp_path, monkeypatch):
    from tlbench.engine.layers import transformer_layers

    job = _job(models[family], tmp_path)
    options = {"epochs": 1, "batch_size": 8, "evals_per_epoch": 0, "min_evals": 0}
    calls = {True: 0, False: 0}
    fitted = {}
    for on in (False, True):
        instance = _strategy(strategy, **options, gradient_checkpointing=on)
        build = instance._build

        def counting(job: Any, build: Any = build, on: bool = on) -> Any:
            model = build(job)
            for layer in transformer_layers(model.backbone):  # a layer's parts: its own hooks
                for part in layer.children():  # do not run again in the recomputation
                    part.register_forward_hook(lambda *_, on=on: calls.__setitem__(on, calls[on] + 1))
            return model

        monkeypatch.setattr(instance, "_build", counting)
        fitted[on] = instance.fit(job)
    assert fitted[True].details.get("gradient_checkpointing") is True
    assert "gradient_checkpointing" not in fitted[False].details
    # the backward pass recomputes the layers' parts: more forward calls for the same steps
    assert calls[True] > calls[False] > 0
    np.testing.assert_allclose(np.asarray(fitted[True].predict("report")),
                               np.asarray(fitted[False].predict("report")), rtol=1e-5, atol=1e-6)


def test_checkpointing_is_off_by_default_and_not_in_ids():
    off = _strategy("full_finetune")
    assert off.options.gradient_checkpointing is False
    assert "gradient_checkpointing" not in off.options.identity()
    on = _strategy("full_finetune", gradient_checkpointing=True)
    assert on.options.identity()["gradient_checkpointing"] is True
