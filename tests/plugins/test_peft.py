"""The ``peft`` and ``lora`` strategies: the plugin contract for every allowed PEFT method, option
validation, what is saved, honest counts, and token alignment under prompt-learning methods.

The tiny BERT is random, not pretrained, so rates here are far above the real defaults, and
``min_accuracy`` is set only where the method's own parameters learn the toy task: with CLS pooling a
head on the frozen random encoder stays at chance (0.47), LoRA, LoHa, LoKr and IA3 reach 0.72 to 1.0
over five seeds; prompt tuning, P-tuning and prefix tuning do not move it (they are checked to train).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from tlbench.interfaces import HeadSpec, ModelRef, TaskOptions
from tlbench.testing import StrategyContract, tiny_bert

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from tlbench_builtin.peft_strategy import (  # noqa: E402 - after the skips
    LoraOptions,
    LoraStrategy,
    PeftOptions,
    PeftStrategy,
    allowed_methods,
)

PROMPT_CONFIGS = {
    "prompt_tuning": {"num_virtual_tokens": 4},
    "p_tuning": {"num_virtual_tokens": 4, "encoder_hidden_size": 16},
    "prefix_tuning": {"num_virtual_tokens": 4},
}


class PeftContract(StrategyContract):
    """The contract, with a seeded fit whose initial adapter is kept to check that it trained."""

    @pytest.fixture(scope="class")
    @classmethod
    def initial(cls, instance: Any, job: Any) -> dict[str, Any]:
        from transformers import set_seed

        set_seed(0)
        model = instance._build(job)
        return {n: p.detach().clone() for n, p in model.named_parameters()
                if p.requires_grad and not n.startswith("head.")}

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, instance: Any, job: Any, initial: dict[str, Any]) -> Any:
        from transformers import set_seed

        set_seed(0)  # the same initial adapter as ``initial`` (and no dependence on test order)
        return instance.fit(job)

    def test_adapter_trains_and_base_is_frozen(self, fitted: Any, initial: dict[str, Any]) -> None:
        assert initial, "PEFT added no trainable parameter"
        params = dict(fitted.module.named_parameters())
        assert set(initial) == {n for n, p in params.items() if p.requires_grad and not n.startswith("head.")}
        moved = [n for n, p in initial.items() if not torch.equal(params[n].detach(), p)]
        assert moved, "no PEFT parameter changed in training"
        assert all(p.requires_grad for p in fitted.module.head.parameters())

    def test_saved_file_holds_head_and_adapter_only(self, fitted: Any, tmp_path: Path) -> None:
        from safetensors.torch import load_file

        fitted.save(tmp_path)
        files = list(tmp_path.iterdir())
        assert [f.name for f in files] == ["trained.safetensors"]
        state = load_file(str(files[0]))
        trainable = {n for n, p in fitted.module.named_parameters() if p.requires_grad}
        assert set(state) == trainable
        assert {"head.1.weight", "head.1.bias"} <= set(state)  # the classic PEFT pitfall: losing the head
        assert sum(v.numel() for v in state.values()) == fitted.parameter_counts()[0]


E = {"epochs": 12, "batch_size": 16}


class TestLora(PeftContract):
    strategy = "lora"
    options: ClassVar[dict[str, Any]] = {"lr": 1e-2, **E}
    min_accuracy = 0.85  # 0.94 to 0.97 over five seeds

    def test_counts_are_adapter_plus_head(self, fitted: Any, job: Any) -> None:
        trainable, total = fitted.parameter_counts()
        r, hidden, ffn, layers = 8, 32, 64, 2
        # query, key, value, attention output (32 -> 32); intermediate (32 -> 64); output (64 -> 32)
        per_layer = 4 * r * (hidden + hidden) + r * (hidden + ffn) + r * (ffn + hidden)
        head = hidden * 2 + 2
        assert trainable == layers * per_layer + head
        from tlbench.engine import load_backbone

        base = sum(p.numel() for p in load_backbone(job.model).parameters())  # BERT without its pooler
        assert total == base + trainable


class TestPeftIa3(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "ia3", "lr": 0.3, **E}
    min_accuracy = 0.65  # 0.72 to 0.75 over five seeds


class TestPeftLoha(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "loha", "lr": 3e-2, **E}
    min_accuracy = 0.8  # 0.89 to 0.97


class TestPeftLokr(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "lokr", "lr": 3e-2, **E}
    min_accuracy = 0.65  # 0.72 to 0.80


class TestPeftPromptTuning(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "prompt_tuning", "config": PROMPT_CONFIGS["prompt_tuning"],
                                         "lr": 3e-2, "epochs": 3, "batch_size": 16}
    learns_toy_task = False  # the majority label on the random tiny BERT (see the module docstring)


class TestPeftPTuning(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "p_tuning", "config": PROMPT_CONFIGS["p_tuning"],
                                         "lr": 3e-2, "epochs": 3, "batch_size": 16}
    learns_toy_task = False  # the majority label on the random tiny BERT (see the module docstring)


class TestPeftPrefixTuning(PeftContract):
    strategy = "peft"
    options: ClassVar[dict[str, Any]] = {"method": "prefix_tuning", "config": PROMPT_CONFIGS["prefix_tuning"],
                                         "lr": 3e-2, "epochs": 3, "batch_size": 16}
    learns_toy_task = False  # the majority label on the random tiny BERT (see the module docstring)


# -- options ------------------------------------------------------------------------------------
def test_both_are_registered_as_builtins() -> None:
    from tlbench.plugins import get_plugins

    strategies = get_plugins().strategies
    for name in ("peft", "lora"):
        assert strategies.get(name).distribution == "tlbench"


def test_unknown_method_suggests_and_lists_the_allowed() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        PeftOptions(method="lorra")
    (error,) = info.value.errors()
    assert error["loc"] == ("method",)
    assert "Unknown PEFT method 'lorra'" in error["msg"] and "Did you mean: lora" in error["msg"]
    assert f"Available: {', '.join(allowed_methods())}." in error["msg"]
    assert {"lora", "ia3", "loha", "lokr", "prompt_tuning"} <= set(allowed_methods())


def test_refused_method_says_why() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="update_and_allocate"):
        PeftOptions(method="adalora", config={"total_step": 10})


def test_unknown_config_key_names_it_and_the_fields() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        PeftOptions(method="lora", config={"lora_alpah": 16})
    (error,) = info.value.errors()
    assert error["loc"] == ("config",)
    msg = error["msg"]
    assert "unknown config key 'lora_alpah' for LoraConfig" in msg and "Did you mean: lora_alpha" in msg
    assert "Allowed:" in msg and "target_modules" in msg and "use_dora" in msg
    with pytest.raises(ValidationError, match="Did you mean: num_virtual_tokens"):
        PeftOptions(method="prompt_tuning", config={"num_virtual_token": 4})
    with pytest.raises(ValidationError, match="'task_type' is set by tlbench"):
        PeftOptions(method="lora", config={"task_type": "SEQ_CLS"})


def test_suite_errors_name_the_strategy_and_key(tmp_path: Path) -> None:
    from tlbench.config import load_suite
    from tlbench.errors import ConfigError

    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0]\n[tasks.sst2]\n'
                     '[strategies.pt]\nstrategy = "peft"\nmethod = "ia3"\nconfig = { r = 4 }\n'
                     '[strategies.bad]\nstrategy = "peft"\nmethod = "lorra"\n')
    with pytest.raises(ConfigError) as info:
        load_suite(suite, check_data=False)
    text = str(info.value)
    assert "strategies.pt.config" in text and "unknown config key 'r' for IA3Config" in text
    assert "strategies.bad.method" in text and "Did you mean: lora" in text


def test_learning_rate_defaults_follow_the_method() -> None:
    assert PeftOptions().lr == PeftOptions(method="lora").lr == 5e-4
    assert PeftOptions(method="prompt_tuning").lr == 1e-2
    assert PeftOptions(method="prompt_tuning", lr=3e-3).lr == 3e-3
    assert LoraOptions().lr == 5e-4 > 5e-5  # adapters: ~10x full fine-tuning's default


# -- models built without training ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("peft") / "tiny-bert")


def fake_job(model_dir: Path, head: HeadSpec, max_length: int = 16) -> Any:
    task = SimpleNamespace(head=head, options=TaskOptions(max_length=max_length))
    return SimpleNamespace(model=ModelRef("tiny-bert", str(model_dir), "test"), task=task)


BATCH = {  # two rows, the second padded; segment ids as a sentence pair would have them
    "input_ids": torch.tensor([[2, 5, 20, 21, 3, 10, 3], [2, 11, 22, 3, 6, 3, 0]]),
    "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]]),
    "token_type_ids": torch.tensor([[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1, 0]]),
}


def test_lora_trains_a_small_share(model_dir: Path) -> None:
    model = LoraStrategy("lora", LoraOptions(r=1))._build(fake_job(model_dir, HeadSpec("classification", 2)))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 20 * trainable < total


@pytest.mark.parametrize("method", sorted(PROMPT_CONFIGS))
@pytest.mark.parametrize("kind", ["token_classification", "span"])
def test_prompt_learning_keeps_token_positions(model_dir: Path, method: str, kind: str) -> None:
    strategy = PeftStrategy("peft", PeftOptions(method=method, config=PROMPT_CONFIGS[method]))
    model = strategy._build(fake_job(model_dir, HeadSpec(kind, 5))).eval()
    with torch.no_grad():
        out = model(**BATCH)
        alone = model(**{k: v[1:, :6] for k, v in BATCH.items()})  # row 2 without its padding
    assert out.shape[:2] == BATCH["input_ids"].shape
    torch.testing.assert_close(out[1, :6], alone[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", sorted(PROMPT_CONFIGS))
def test_prompt_wrapper_agrees_with_peft_and_keeps_segments(model_dir: Path, method: str) -> None:
    strategy = PeftStrategy("peft", PeftOptions(method=method, config=PROMPT_CONFIGS[method]))
    wrapper = strategy._build(fake_job(model_dir, HeadSpec("token_classification", 5))).backbone.eval()
    no_segments = {k: v for k, v in BATCH.items() if k != "token_type_ids"}
    with torch.no_grad():
        ours = wrapper(**no_segments).last_hidden_state
        theirs = wrapper.peft(**no_segments).last_hidden_state  # PEFT's forward (drops segment ids)
        with_segments = wrapper(**BATCH).last_hidden_state
    torch.testing.assert_close(ours, theirs[:, theirs.shape[1] - ours.shape[1]:])
    assert not torch.allclose(with_segments, ours), "token_type_ids did not reach the encoder"


def test_virtual_tokens_must_fit_the_position_embeddings(model_dir: Path) -> None:
    strategy = PeftStrategy("peft", PeftOptions(method="prompt_tuning", config={"num_virtual_tokens": 8}))
    with pytest.raises(ValueError, match=r"max_length \(60\) \+ num_virtual_tokens \(8\)"):
        strategy._build(fake_job(model_dir, HeadSpec("classification", 2), max_length=60))


def test_reload_restores_every_trained_tensor(model_dir: Path, tmp_path: Path) -> None:
    """Without training (a fresh random adapter and head), save -> load reproduces the model exactly."""
    from tlbench.engine import load_trained, save_trained

    job = fake_job(model_dir, HeadSpec("token_classification", 5))
    for method, config in [("lora", {}), ("prompt_tuning", PROMPT_CONFIGS["prompt_tuning"])]:
        strategy = PeftStrategy("peft", PeftOptions(method=method, config=config))
        torch.manual_seed(1)
        model = strategy._build(job).eval()
        torch.nn.init.normal_(model.head[1].weight)
        save_trained(model, tmp_path / method)
        torch.manual_seed(2)
        again = load_trained(strategy._build(job), tmp_path / method).eval()
        with torch.no_grad():
            np.testing.assert_array_equal(again(**BATCH).numpy(), model(**BATCH).numpy())
