"""Every strategy on every head kind, on tiny random models of many Hugging Face families.

The contract grid (issue 19): family x strategy x head kind. Each family is a randomly initialised
model built from its config with tiny sizes (2 layers, hidden 32), saved next to the tiny BERT's
WordPiece tokenizer (its vocabulary size and special ids set in the config), once per session. Each
case trains one short epoch, predicts, scores, saves and reloads (the same predictions), and checks
that something trains and the counts are true. A combination a strategy cannot serve must be refused
by its ``problem()`` at validation, with the reason (checked here too).

Nothing here says a family *learns*: the models are random. Only the shipped MiniLM is a real
pretrained model in this repository (tests/integration).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tlbench.interfaces import ModelRef, TaskOptions
from tlbench.model_facts import ModelFacts
from tlbench.testing import ToyRegressionTask, ToyTagTask, ToyTask, installed_plugins, tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 32, 2, 2, 64, 64


def _common(vocab: int) -> dict[str, Any]:
    return {"vocab_size": vocab, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}


def _bert_like(name: str) -> Callable[[int], Any]:
    def build(vocab: int) -> Any:
        cls = getattr(transformers, name)
        return cls(**_common(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                   num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=POSITIONS)
    return build


def _roberta_like(name: str) -> Callable[[int], Any]:
    def build(vocab: int) -> Any:  # RoBERTa's positions start after padding_idx + 1
        cls = getattr(transformers, name)
        return cls(**_common(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                   num_attention_heads=HEADS, intermediate_size=FFN,
                   max_position_embeddings=POSITIONS + 2)
    return build


def _distilbert(vocab: int) -> Any:
    return transformers.DistilBertConfig(vocab_size=vocab, pad_token_id=0, dim=HIDDEN, n_layers=LAYERS,
                                         n_heads=HEADS, hidden_dim=FFN, max_position_embeddings=POSITIONS)


def _albert(vocab: int) -> Any:
    return transformers.AlbertConfig(**_common(vocab), embedding_size=16, hidden_size=HIDDEN,
                                     num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                     intermediate_size=FFN, max_position_embeddings=POSITIONS)


def _deberta_v2(vocab: int) -> Any:
    return transformers.DebertaV2Config(**_common(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                        num_attention_heads=HEADS, intermediate_size=FFN,
                                        max_position_embeddings=POSITIONS, relative_attention=True,
                                        position_buckets=16, pos_att_type=["p2c", "c2p"],
                                        position_biased_input=False)


def _modernbert(vocab: int) -> Any:
    return transformers.ModernBertConfig(**_common(vocab), cls_token_id=2, sep_token_id=3,
                                         hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                         num_attention_heads=HEADS, intermediate_size=FFN,
                                         max_position_embeddings=POSITIONS, global_attn_every_n_layers=2,
                                         local_attention=16)


def _gpt2(vocab: int) -> Any:
    return transformers.GPT2Config(**_common(vocab), n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                                   n_inner=FFN, n_positions=POSITIONS)


def _llama_like(name: str) -> Callable[[int], Any]:
    def build(vocab: int) -> Any:
        cls = getattr(transformers, name)
        return cls(**_common(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                   num_attention_heads=HEADS, num_key_value_heads=HEADS, intermediate_size=FFN,
                   max_position_embeddings=POSITIONS, tie_word_embeddings=False)
    return build


#: family -> config builder (given the vocabulary size)
FAMILIES: dict[str, Callable[[int], Any]] = {
    "bert": _bert_like("BertConfig"),
    "roberta": _roberta_like("RobertaConfig"),
    "distilbert": _distilbert,
    "albert": _albert,
    "electra": _bert_like("ElectraConfig"),
    "deberta-v2": _deberta_v2,
    "xlm-roberta": _roberta_like("XLMRobertaConfig"),
    "modernbert": _modernbert,
    "gpt2": _gpt2,
    "llama": _llama_like("LlamaConfig"),
    "qwen2": _llama_like("Qwen2Config"),
}
DECODERS = ("gpt2", "llama", "qwen2")


def write_family(directory: Path, family: str, *, seed: int = 0) -> Path:
    """A tiny random ``family`` model and the tiny BERT's tokenizer, saved in ``directory``."""
    from transformers import AutoModel, AutoTokenizer

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    bert = tiny_bert(directory.parent / f"{directory.name}-tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(bert)
    # the largest id + 1, not len(tokenizer): the tiny vocabulary lists "a" twice, so one id is unused
    config = FAMILIES[family](max(tokenizer.get_vocab().values()) + 1)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelRef]:
    root = tmp_path_factory.mktemp("families")
    return {f: ModelRef(f"tiny-{f}", str(write_family(root / f, f)), "test") for f in FAMILIES}


#: strategy label -> (registered name, options): one short epoch of 8-row batches
ENGINE = {"epochs": 1, "batch_size": 8}
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "full_finetune": ("full_finetune", ENGINE),
    "partial_freeze": ("partial_freeze", {**ENGINE, "frozen_layers": 1}),
    "linear_probe": ("linear_probe", {"epochs": 2}),
    "linear_probe/mlp": ("linear_probe", {"epochs": 2, "head": "mlp"}),
    "lora": ("lora", ENGINE),
    "peft/lora": ("peft", {**ENGINE, "method": "lora"}),
    "bitfit": ("bitfit", ENGINE),
    "dora": ("dora", ENGINE),
    "rslora": ("rslora", ENGINE),
    "pissa": ("pissa", ENGINE),
    "vera": ("vera", ENGINE),
    "oft": ("oft", {**ENGINE, "oft_block_size": 8}),
    "peft/ia3": ("peft", {**ENGINE, "method": "ia3"}),
}
TASKS = {"classification": ToyTask, "token_classification": ToyTagTask, "regression": ToyRegressionTask}
SIZES = {"max_train_examples": 24, "max_eval_examples": 16, "select_examples": 16, "max_length": 16}
#: span QA: SQuAD v1.1 from the mirror (a handful of questions, 56-token windows), with the strategies
#: whose span path differs (the duplicates of the probe and of LoRA are left out)
SPAN = "span (squad)"
SQUAD = {"max_train_examples": 4, "max_eval_examples": 4, "select_examples": 4, "max_length": 56,
         "doc_stride": 24}
#: a few steps on the SQuAD windows (a question's context makes dozens of 56-token windows)
SPAN_STEPS = {"max_steps": 3}
SPAN_STRATEGIES = ("full_finetune", "partial_freeze", "linear_probe", "lora", "bitfit")
_SQUAD_DATA: list[Any] = []

#: (family, strategy) -> what the error says: combinations the strategy refuses. Validation refuses
#: them first, from the model's config.json (``Strategy.model_problem``: tests/unit/test_model_facts.py
#: checks the messages); the strategy checks again when it builds the model (the cell fails with this
#: error in its record; the grid goes on), for a config that does not tell.
REFUSED = {
    ("llama", "bitfit"): "has no bias parameters",
    ("albert", "partial_freeze"): "shared between them",
    ("modernbert", "bitfit"): "has no bias parameters",
    # refused when the model is built only: what decides it is PEFT's (its per-architecture default
    # modules, the layer types it adapts), which validation cannot read without importing torch
    **{(f, "peft/ia3"): "PEFT has no default target modules of ia3" for f in
       ("albert", "distilbert", "electra", "modernbert", "xlm-roberta")},
    ("gpt2", "oft"): "Target module Conv1D",  # OFT adapts nn.Linear; GPT-2's projections are Conv1D
}
#: of those, the ones validation refuses from the model's config.json (``Strategy.model_problem``)
AT_VALIDATION = {("llama", "bitfit"), ("albert", "partial_freeze"), ("modernbert", "bitfit")}

_JOBS: dict[tuple[str, str], Any] = {}


def job_for(family: str, kind: str, model: ModelRef, cache: Path, data_dir: Path | None = None) -> Any:
    from tlbench.runner import prepare_job

    if (family, kind) not in _JOBS:
        if kind == SPAN:
            entry = installed_plugins().tasks.get("squad")
            task = entry.factory("squad", entry.factory.Options(**SQUAD))
            if not _SQUAD_DATA:
                _SQUAD_DATA.append(task.load(data_dir))
            data = _SQUAD_DATA[0]
        else:
            task = TASKS[kind]("toy", TaskOptions(**SIZES))
            data = task.load(None)
        _JOBS[family, kind] = prepare_job(task, model, data, seed=0, device="cpu", cache_dir=cache,
                                          plugins=installed_plugins())
    return _JOBS[family, kind]


def new_strategy(label: str, extra: dict[str, Any] | None = None) -> Any:
    name, options = STRATEGIES[label]
    options = {**options, **(extra or {})}
    plugins = installed_plugins()
    if name not in plugins.strategies.names():
        pytest.skip(f"strategy {name!r} is not installed")
    entry = plugins.strategies.get(name)
    return entry.factory(name, entry.factory.Options.model_validate(options, context={"plugins": plugins}))


FULL_GRID = [(f, s, k) for f in FAMILIES for s in STRATEGIES for k in TASKS] + \
    [(f, s, SPAN) for f in FAMILIES for s in SPAN_STRATEGIES]
#: what the default test command runs (the whole grid takes minutes, over the test budget): every
#: family with every strategy once, the head kind rotating, and span QA once per family, its strategy
#: rotating, so every (family, strategy), (family, kind) and (strategy, kind) pair is covered. The
#: rest is marked heavy: ``python -m pytest -m heavy tests/plugins/test_families.py``.
_KINDS = list(TASKS)
COVERING = {(f, s, _KINDS[(i + j) % len(_KINDS)]) for i, f in enumerate(FAMILIES)
            for j, s in enumerate(STRATEGIES)} | \
    {(f, SPAN_STRATEGIES[i % len(SPAN_STRATEGIES)], SPAN) for i, f in enumerate(FAMILIES)}
GRID = [pytest.param(*case, marks=() if case in COVERING else pytest.mark.heavy) for case in FULL_GRID]


@pytest.mark.parametrize(("family", "strategy", "kind"), GRID)
def test_strategy_runs_on_family(family: str, strategy: str, kind: str,
                                 family_models: dict[str, ModelRef], request: pytest.FixtureRequest,
                                 tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    model = family_models[family]
    data_dir = request.getfixturevalue("data_dir") if kind == SPAN else None  # skips without a mirror
    job = job_for(family, kind, model, tmp_path_factory.getbasetemp() / "family-cache", data_dir)
    extra = SPAN_STEPS if kind == SPAN else None
    instance = new_strategy(strategy, extra)
    problem = instance.problem(job.task.head)
    if problem:
        pytest.skip(f"{strategy} refuses {family} at validation: {problem}")
    start = time.perf_counter()
    refused = REFUSED.get((family, strategy))
    facts = ModelFacts.read(model.id, Path(model.path))
    assert facts is not None
    at_validation = instance.model_problem(facts)
    assert bool(at_validation) == ((family, strategy) in AT_VALIDATION), at_validation
    if refused:
        with pytest.raises((ValueError, TypeError), match=refused):
            instance.fit(job)
        return
    fitted = instance.fit(job)
    outputs = fitted.predict("report")
    metrics = job.score("report", outputs)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    trainable, total = fitted.parameter_counts()
    assert 0 < trainable < total or (strategy == "full_finetune" and 0 < trainable <= total)
    fitted.save(tmp_path / "saved")
    again = new_strategy(strategy, extra).load(job, tmp_path / "saved").predict("report")
    for a, b in zip(outputs if isinstance(outputs, list) else [outputs],
                    again if isinstance(again, list) else [again], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert time.perf_counter() - start < 60, "a grid case must take seconds (here: a busy 2-core CPU)"


# -- what the grid does not show: decoder padding, defaults that must not move, limits ---------------
@pytest.mark.parametrize("family", DECODERS)
def test_decoder_pooling_is_padding_invariant(family: str, family_models: dict[str, ModelRef]) -> None:
    """A causal decoder pools its last real token (``pooling = "auto"``), and a row's pooled output
    and token states are the same alone and in a batch padded to a longer row, on the right or on
    the left (positions are counted over the real tokens)."""
    from tlbench.engine import load_backbone
    from tlbench.engine.heads import Representation

    backbone = load_backbone(family_models[family]).eval()
    pooled = Representation(backbone, token_level=False, pooling="auto")
    tokens = Representation(backbone, token_level=True)
    assert pooled.pooling == "last"
    short, long = [5, 9, 12, 7], [6, 8, 10, 11, 13, 14, 15]
    alone = torch.tensor([short])
    ones = torch.ones_like(alone)
    with torch.inference_mode():
        reference, reference_tokens = pooled(alone, ones), tokens(alone, ones)
        for side in ("right", "left"):
            pad = [0] * (len(long) - len(short))
            row = short + pad if side == "right" else pad + short
            real = [1] * len(short)
            mask_row = real + [0] * len(pad) if side == "right" else [0] * len(pad) + real
            ids = torch.tensor([row, long])
            mask = torch.tensor([mask_row, [1] * len(long)])
            torch.testing.assert_close(pooled(ids, mask)[:1], reference, rtol=1e-5, atol=1e-5)
            states = tokens(ids, mask)[0][torch.tensor(mask_row).bool()]
            torch.testing.assert_close(states, reference_tokens[0], rtol=1e-5, atol=1e-5)
            assert not torch.allclose(pooled(ids, mask)[0], pooled(ids, mask)[1])


@pytest.mark.parametrize(("family", "strategy", "expected"), [
    ("bert", "full_finetune", "cls"), ("roberta", "full_finetune", "cls"), ("gpt2", "full_finetune", "last"),
    ("llama", "lora", "last"), ("bert", "linear_probe", "mean"), ("qwen2", "linear_probe", "last")])
def test_auto_pooling_is_chosen_per_model_and_recorded(family: str, strategy: str, expected: str,
                                                       family_models: dict[str, ModelRef],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    job = job_for(family, "classification", family_models[family],
                  tmp_path_factory.getbasetemp() / "family-cache")
    fitted = new_strategy(strategy).fit(job)
    assert fitted.details["pooling"] == expected


@pytest.mark.parametrize(("family", "expected"), [("bert", "cls"), ("gpt2", "last"), ("llama", "last")])
def test_multitask_pools_per_model_and_records_it(family: str, expected: str,
                                                   family_models: dict[str, ModelRef],
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Multitask's ``pooling = "auto"`` is the engine strategies': a decoder's text heads pool its
    last real token (they used to pool its first token, which has seen only itself)."""
    cache = tmp_path_factory.getbasetemp() / "family-cache"
    jobs = {"texts": job_for(family, "classification", family_models[family], cache),
            "tags": job_for(family, "token_classification", family_models[family], cache)}
    plugins = installed_plugins()
    entry = plugins.strategies.get("multitask")
    options = entry.factory.Options.model_validate({"steps": 4, "batch_size": 8},
                                                   context={"plugins": plugins})
    assert options.identity()["pooling"] == "cls"  # "auto" keeps the ids stored runs have
    fitted = entry.factory("multitask", options).fit_group(jobs)
    assert fitted["texts"].details["pooling"] == expected
    assert fitted["texts"].details["decoder"] == (family != "bert")


def test_lora_default_targets_are_bert_s_old_suffixes(family_models: dict[str, ModelRef]) -> None:
    """Unset ``target_modules`` (PEFT's all-linear) adapts exactly the modules the old BERT default
    named, with bit-identical initial adapters: BERT's LoRA results do not move."""
    from transformers import set_seed

    from tlbench.engine import load_backbone
    from tlbench_builtin.peft_strategy import LoraOptions, LoraStrategy

    old = ("query", "key", "value", "output.dense", "intermediate.dense")
    states = []
    for targets in (None, old):
        strategy = LoraStrategy("lora", LoraOptions(target_modules=targets))
        set_seed(0)
        wrapped = strategy.prepare_backbone(load_backbone(family_models["bert"]), _job_stub())
        states.append({n: p for n, p in wrapped.named_parameters() if p.requires_grad})
    assert list(states[0]) == list(states[1]) and len(states[0]) == 2 * 6 * LAYERS
    for name, value in states[0].items():
        assert torch.equal(value, states[1][name]), name


def _job_stub() -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(task=SimpleNamespace(options=SimpleNamespace(max_length=16)))


@pytest.mark.parametrize("family", ["gpt2", "llama", "distilbert", "albert", "modernbert"])
def test_lora_adapts_every_linear_layer_of_any_family(family: str,
                                                      family_models: dict[str, ModelRef]) -> None:
    from tlbench.engine import load_backbone
    from tlbench_builtin.peft_strategy import LoraOptions, LoraStrategy

    wrapped = LoraStrategy("lora", LoraOptions()).prepare_backbone(
        load_backbone(family_models[family]), _job_stub())
    adapted = {n.split(".lora_A")[0] for n, _ in wrapped.named_parameters() if ".lora_A" in n}
    assert len(adapted) >= 4 * (1 if family == "albert" else LAYERS), adapted


def test_peft_method_without_a_default_for_the_family_says_so(family_models: dict[str, ModelRef]) -> None:
    from tlbench.engine import load_backbone
    from tlbench_builtin.peft_strategy import PeftOptions, PeftStrategy

    strategy = PeftStrategy("peft", PeftOptions(method="ia3"))
    with pytest.raises(ValueError, match="no default target modules of ia3 for model type 'modernbert'"):
        strategy.prepare_backbone(load_backbone(family_models["modernbert"]), _job_stub())


# RoBERTa's positions start at padding_idx + 1 (here 1, in roberta-base 2: 514 embeddings, 512 tokens)
@pytest.mark.parametrize(("family", "limit"),
                         [("bert", POSITIONS), ("roberta", POSITIONS + 1), ("gpt2", POSITIONS)])
def test_max_length_above_the_model_s_positions_is_an_error(family: str, limit: int,
                                                            family_models: dict[str, ModelRef]) -> None:
    from tlbench.engine import load_backbone
    from tlbench.engine.model import check_max_length, position_limit

    backbone = load_backbone(family_models[family])
    assert position_limit(backbone) == limit
    check_max_length(backbone, limit)
    with pytest.raises(ValueError, match=rf"max_length \({limit + 1}\) is above the model's position limit "
                                         rf"\({limit}"):
        check_max_length(backbone, limit + 1)


def test_deberta_v2_falls_back_to_eager_attention(family_models: dict[str, ModelRef]) -> None:
    from tlbench.engine import load_backbone
    from tlbench.engine.model import attention_implementation

    assert attention_implementation(load_backbone(family_models["deberta-v2"])) == "eager"
    assert attention_implementation(load_backbone(family_models["bert"])) == "sdpa"


def test_a_tokenizer_without_a_pad_token_is_recorded(family_models: dict[str, ModelRef],
                                                     tmp_path: Path) -> None:
    """A decoder whose tokenizer has no pad token trains (padding is masked) and the record says so."""
    import shutil

    from transformers import AutoTokenizer

    from tlbench.runner import prepare_job

    directory = tmp_path / "gpt2-no-pad"
    shutil.copytree(family_models["gpt2"].path, directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(directory)
    task = ToyTask("toy", TaskOptions(**SIZES))
    job = prepare_job(task, ModelRef("gpt2-no-pad", str(directory), "test"), task.load(None), seed=0,
                      device="cpu", cache_dir=tmp_path / "cache", plugins=installed_plugins())
    fitted = new_strategy("full_finetune").fit(job)
    assert "the tokenizer has none" in fitted.details["pad_token"]
    assert fitted.details["pooling"] == "last"
