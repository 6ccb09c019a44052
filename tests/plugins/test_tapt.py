"""``tapt``: the contract kit with full fine-tuning and with LoRA inside; stage 1 is masked-LM
training on the task's own text (the encoder moves, the loss falls); the record counts both stages;
``tapt_steps = 0`` is the inner strategy bit for bit; models without a masked-LM class and bad inner
strategies are refused with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.plugins.test_families import write_family
from tlbench import ModelRef, TaskOptions
from tlbench.testing import StrategyContract, ToyTask, installed_plugins

torch = pytest.importorskip("torch")

#: TestFullFinetune's budget (6 epochs at 1e-3), after 30 masked-LM steps
OPTIONS = {"lr": 1e-3, "epochs": 6, "batch_size": 16, "tapt_steps": 30, "tapt_lr": 1e-3}


def _strategy(**options: Any) -> Any:
    plugins = installed_plugins()
    entry = plugins.strategies.get("tapt")
    return entry.factory("tapt", entry.factory.Options.model_validate(options, context={"plugins": plugins}))


class TestTapt(StrategyContract):
    strategy = "tapt"
    options = OPTIONS
    min_accuracy = 0.8  # 1.0 on seed 0 (full_finetune with the same stage-2 options: 0.95 or more)

    def test_every_weight_is_the_tasks_own(self, fitted: Any) -> None:
        trainable, total = fitted.parameter_counts()
        assert trainable == total

    def test_stage_one_moves_the_encoder_and_lowers_the_mlm_loss(self, instance: Any, job: Any) -> None:
        from transformers import DataCollatorForLanguageModeling, set_seed

        from tlbench.engine import load_tokenizer, rows_of
        from tlbench_builtin.tapt import masked_lm

        state, compute, new = instance.pretrain(job)
        assert compute.optimizer_steps == 30 and compute.examples_seen == 30 * 16
        assert any(k.startswith("cls.predictions") for k in new)  # tiny_bert saves a bare BertModel
        before, _ = masked_lm(job.model.path)
        after, _ = masked_lm(job.model.path)
        after.base_model.load_state_dict(state)
        assert not torch.equal(before.base_model.embeddings.word_embeddings.weight,
                               after.base_model.embeddings.word_embeddings.weight)
        tokenizer = load_tokenizer(job.model.path)
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
        rows = [{"input_ids": r["input_ids"]} for r in rows_of(job.encoded("train"))][:64]

        def loss(model: Any) -> float:
            set_seed(1)
            model.eval()
            with torch.no_grad():  # the same masks for both models
                return float(sum(model(**collate(rows[i:i + 16])).loss for i in range(0, 64, 16)))

        # the head transform is random in both; the encoder (and the tied output) learnt the task's words
        after.cls.load_state_dict(before.cls.state_dict())
        assert loss(after) < loss(before)

    def test_compute_charges_both_stages(self, fitted: Any) -> None:
        stages, c = fitted.details["stages"], fitted.compute
        assert stages["tapt"]["optimizer_steps"] == 30
        assert c.optimizer_steps == 30 + stages["finetune"]["optimizer_steps"]
        assert c.examples_seen == stages["tapt"]["examples_seen"] + stages["finetune"]["examples_seen"]
        assert stages["tapt"]["seconds"] > 0 and stages["finetune"]["seconds"] > 0
        assert fitted.details["inner"] == "full_finetune"


class TestTaptLora(StrategyContract):
    strategy = "tapt"
    # TestLora's options (lr 1e-2, 12 epochs), the inner strategy's rank through inner_options
    options = {"inner": "lora", "inner_options": {"r": 8}, "lr": 1e-2, "epochs": 12, "batch_size": 16,
               "tapt_steps": 30, "tapt_lr": 1e-3}
    min_accuracy = 0.8

    def test_lora_inside_and_the_whole_encoder_stored(self, fitted: Any) -> None:
        names = [n for n, _ in fitted.module.named_parameters()]
        assert any("lora_A" in n for n in names)
        trainable, total = fitted.parameter_counts()
        assert trainable == total  # the adapted base is the task's too: stored whole


def test_no_stage_one_is_the_inner_strategy_bit_for_bit(tmp_path: Path) -> None:
    from tlbench.runner import prepare_job
    from tlbench.testing import tiny_bert

    task = ToyTask("toy", TaskOptions(select_examples=32, max_train_examples=48, max_length=16))
    model = ModelRef("tiny", str(tiny_bert(tmp_path / "m")), "test")
    job = prepare_job(task, model, task.load(None), seed=0, device="cpu", cache_dir=tmp_path / "c",
                      plugins=installed_plugins())
    plugins = installed_plugins()
    ft = plugins.strategies.get("full_finetune").factory
    plain = ft("full_finetune", ft.Options(epochs=1, batch_size=8)).fit(job)
    tapt = _strategy(epochs=1, batch_size=8, tapt_steps=0).fit(job)
    assert all(torch.equal(a, b) for a, b in zip(plain.module.state_dict().values(),
                                                 tapt.module.state_dict().values(), strict=True))


def test_lr_defaults_to_the_inner_strategys() -> None:
    assert _strategy().options.lr == 5e-5
    assert _strategy(inner="lora").options.lr == 5e-4
    assert _strategy(inner="lora", lr=1e-3).options.lr == 1e-3


@pytest.mark.parametrize(("options", "message"), [
    ({"inner": "lin_probe"}, "Unknown inner strategy 'lin_probe'"),
    ({"inner": "linear_probe"}, "not built on EncoderStrategy"),
    ({"inner": "tapt"}, "Unknown inner strategy 'tapt'"),
    ({"inner": "lora", "inner_options": {"lr": 1e-3}}, "engine options: set them at the top level"),
    ({"inner": "lora", "inner_options": {"rank": 8}}, "rank"),
])
def test_bad_inner_strategies_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _strategy(**options)


def test_a_decoder_is_refused_naming_its_type(tmp_path: Path) -> None:
    from tlbench.runner import prepare_job

    task = ToyTask("toy", TaskOptions(select_examples=32, max_train_examples=32, max_length=16))
    model = ModelRef("tiny-gpt2", str(write_family(tmp_path / "gpt2", "gpt2")), "test")
    job = prepare_job(task, model, task.load(None), seed=0, device="cpu", cache_dir=tmp_path / "c",
                      plugins=installed_plugins())
    with pytest.raises(ValueError, match="model type 'gpt2' has none"):
        _strategy(tapt_steps=2).fit(job)
