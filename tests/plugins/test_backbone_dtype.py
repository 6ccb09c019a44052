"""The dtype a backbone's weights are held in (issue 19, large backbones). transformers 5 keeps a
checkpoint's own dtype, and most decoder LLMs are saved in bf16: such a checkpoint fed bf16 states to
fp32 heads ("mat1 and mat2 must have the same dtype") in every strategy. Now the backbone is held in
fp32 unless ``backbone_dtype = "bf16"`` asks for bf16, where the frozen weights stay bf16, what
trains is fp32, and bf16 autocast is required."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tlbench.interfaces import ModelRef
from tlbench.testing import ToyTagTask, ToyTask, build_strategy, tiny_bert, toy_job

torch = pytest.importorskip("torch")


def _strategy(name: str, **options: Any) -> Any:
    return build_strategy(name, options)


@pytest.fixture(scope="module")
def bf16_model(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    """A tiny BERT saved in bf16, as most decoder checkpoints on the Hub are."""
    from transformers import BertModel

    path = tiny_bert(tmp_path_factory.mktemp("bf16") / "tiny")
    BertModel.from_pretrained(path).to(torch.bfloat16).save_pretrained(path)
    return ModelRef("tiny-bf16", str(path), "test")


def _job(model: ModelRef, cache: Path, task: Any = ToyTask) -> Any:
    return toy_job(model, cache, task, max_train_examples=32, max_eval_examples=16, select_examples=16,
                   max_length=16)


def _score(job: Any, fitted: Any) -> float:
    return job.score("report", fitted.predict("report"))[job.task.primary_metric]


@pytest.mark.parametrize("strategy", ["full_finetune", "lora", "linear_probe", "partial_freeze"])
def test_a_bf16_checkpoint_trains_in_fp32_by_default(strategy, bf16_model, tmp_path):
    job = _job(bf16_model, tmp_path)
    extra = {"frozen_layers": 1} if strategy == "partial_freeze" else {}
    fitted = _strategy(strategy, epochs=1, batch_size=8, **extra).fit(job)
    assert math.isfinite(_score(job, fitted))
    module = getattr(fitted, "module", None)
    if module is not None and hasattr(module, "backbone"):
        assert {p.dtype for p in module.backbone.parameters()} == {torch.float32}
        assert "backbone_dtype" not in fitted.details


def test_a_bf16_checkpoint_trains_with_multitask_too(bf16_model, tmp_path):
    jobs = {"texts": _job(bf16_model, tmp_path), "tags": _job(bf16_model, tmp_path, ToyTagTask)}
    fitted = _strategy("multitask", steps=4, batch_size=8).fit_group(jobs)
    assert all(math.isfinite(_score(jobs[t], fitted[t])) for t in jobs)


def test_a_bf16_backbone_keeps_frozen_weights_in_bf16_and_trains_in_fp32(bf16_model, tmp_path):
    job = _job(bf16_model, tmp_path)
    strategy = _strategy("lora", epochs=1, batch_size=8, backbone_dtype="bf16", precision="bf16")
    fitted = strategy.fit(job)
    params = list(fitted.module.named_parameters())
    frozen = {p.dtype for _, p in params if not p.requires_grad}
    trained = {p.dtype for _, p in params if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}
    assert fitted.details["backbone_dtype"] == "bfloat16"
    assert math.isfinite(_score(job, fitted))
    fitted.save(tmp_path / "saved")
    again = _strategy("lora", epochs=1, batch_size=8, backbone_dtype="bf16", precision="bf16")
    np.testing.assert_allclose(np.asarray(again.load(job, tmp_path / "saved").predict("report")),
                               np.asarray(fitted.predict("report")), rtol=1e-5, atol=1e-5)


def test_bf16_probe_features_are_their_own_cache_entries(bf16_model, tmp_path):
    from tlbench.engine.features import feature_path

    job = _job(bf16_model, tmp_path)
    _strategy("linear_probe", epochs=1, backbone_dtype="bf16", precision="bf16").fit(job)
    assert feature_path(job, "train", "mean", precision="bf16", weights="bf16").is_file()
    assert not feature_path(job, "train", "mean", precision="bf16").is_file()


def test_a_bf16_backbone_needs_bf16_autocast(bf16_model, tmp_path):
    with pytest.raises(ValidationError, match="backbone_dtype = 'bf16' computes under bf16 autocast"):
        _strategy("lora", backbone_dtype="bf16", precision="fp32")
    job = _job(bf16_model, tmp_path)  # "auto" is fp32 on a CPU: refused when the run starts
    with pytest.raises(ValueError, match="set precision = 'bf16'"):
        _strategy("lora", epochs=1, batch_size=8, backbone_dtype="bf16").fit(job)
    assert "backbone_dtype" not in _strategy("lora").options.identity()  # fp32: the ids runs had
