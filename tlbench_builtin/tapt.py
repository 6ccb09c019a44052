"""``tapt``: task-adaptive pretraining, then an inner strategy (Gururangan et al., "Don't Stop
Pretraining: Adapt Language Models to Domains and Tasks", ACL 2020).

Stage 1 continues the encoder's masked-language-model training on the task's own training text (no
labels): the rows the task encoded for training, masked by transformers'
``DataCollatorForLanguageModeling`` (15 % of the non-special tokens; of those 80 % ``[MASK]``, 10 %
random, 10 % kept), for ``tapt_steps`` optimizer steps through the shared engine's loop (AdamW,
warm-up and linear decay, gradient clipping). The model is transformers' ``AutoModelForMaskedLM`` for
the checkpoint; its encoder weights then replace the pretrained ones in stage 2. Stage 2 is the
``inner`` strategy (``full_finetune`` by default; any strategy built on :class:`tlbench.EncoderStrategy`:
``partial_freeze``, ``lora``, ``peft``, ``bitfit``...): which weights train and how the encoder is
wrapped are the inner strategy's (its ``prepare_backbone``, ``choose_trainable``, ``make_optimizer``);
this strategy's engine options (``lr``, ``epochs``, a suite's ``[training]`` budget, which applies to
stage 2 only) drive its training; ``inner_options`` holds the inner strategy's own options (``r``...).
``lr`` unset takes the inner strategy's default learning rate.

Costs are honest: the record's compute counts (steps, epochs, examples, tokens) are both stages'
sums, the train seconds cover both, and ``details["stages"]`` keeps each stage's counts and seconds
apart (the share spent pretraining). Every encoder weight is task-specific after stage 1, so the
stored state is the whole model and every parameter counts as trained, whatever the inner strategy
trains in stage 2 (TAPT + LoRA stores a whole encoder per task, not an adapter).

A checkpoint saved without its masked-LM head (a sentence-transformers model such as
all-MiniLM-L6-v2 ships the bare ``BertModel``) gets a freshly initialised head transform (the output
projection is tied to the word embeddings): the record says which tensors were new. An architecture
with no masked-LM class in transformers (decoders: GPT-2, Llama, Qwen2) is refused when the run
starts, naming the model type.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tlbench import EncoderOptions, EncoderStrategy, Fitted, Float, Int, Job, ModelFacts, Register, hookimpl
from tlbench_builtin.lp_ft import add_compute, stage_summary

#: stage-1 keys of the encoded rows: the text, not the labels
_TEXT = ("input_ids", "token_type_ids")


class TaptOptions(EncoderOptions):
    inner: str = Field("full_finetune", description="stage 2: a strategy built on EncoderStrategy "
                                                    "(full_finetune, partial_freeze, lora, peft, bitfit...)")
    inner_options: dict[str, Any] = Field(
        default_factory=dict, description="the inner strategy's own options (e.g. {r = 16} for lora); "
                                          "engine options (lr, epochs...) are set at the top level")
    # Gururangan et al. trained TAPT for 100 epochs of small task data at lr 1e-4, batch 256, masking
    # 15 %. A CPU affords steps, not epochs: 100 steps of 16 rows is the default (no source: a budget).
    tapt_steps: int = Field(100, ge=0, le=1_000_000,
                            description="stage 1: masked-LM optimizer steps (0: no stage 1, the inner "
                                        "strategy alone)")
    tapt_lr: float = Field(1e-4, gt=0, le=1.0, description="stage 1: peak learning rate (Gururangan et al.)")
    tapt_batch_size: int = Field(16, gt=0, le=4096, description="stage 1: rows per step")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="stage 1: share of tokens masked (BERT's)")

    @model_validator(mode="before")
    @classmethod
    def _inner_lr(cls, data: Any, info: ValidationInfo) -> Any:
        """``lr`` unset: the inner strategy's default (lora's 5e-4, not fine-tuning's 5e-5)."""
        if isinstance(data, dict) and "lr" not in data:
            factory = _inner_factory(str(data.get("inner", "full_finetune")), info, quiet=True)
            lr = getattr(factory, "Options", None) and factory.Options.model_fields["lr"].default
            if isinstance(lr, float):
                data = {**data, "lr": lr}
        return data

    @field_validator("inner")
    @classmethod
    def _known_inner(cls, inner: str, info: ValidationInfo) -> str:
        _inner_factory(inner, info)
        return inner

    @field_validator("inner_options")
    @classmethod
    def _inner_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        clash = sorted(set(options) & set(EncoderOptions.model_fields))
        if clash:
            raise ValueError(f"inner_options {clash} are engine options: set them at the top level "
                             "(they drive stage 2)")
        if "inner" in info.data:
            factory = _inner_factory(info.data["inner"], info)
            factory.Options.model_validate(options, context=info.context)
        return options


def _inner_factory(name: str, info: ValidationInfo, *, quiet: bool = False) -> Any:
    from tlbench import get_plugins, unknown_name_message

    plugins = (info.context or {}).get("plugins") or get_plugins()
    names = plugins.strategies.names()
    if name == "tapt" or name not in names:
        if quiet:
            return None
        allowed = [n for n in names if n != "tapt" and _is_encoder(plugins.strategies.get(n).factory)]
        raise ValueError(unknown_name_message("inner strategy", name, allowed, ""))
    factory = plugins.strategies.get(name).factory
    if not _is_encoder(factory):
        if quiet:
            return None
        raise ValueError(f"inner strategy {name!r} does not fine-tune a pretrained encoder (it is not built "
                         "on EncoderStrategy): task-adaptive pretraining would change weights it never uses")
    return factory


def _is_encoder(factory: Any) -> bool:
    return isinstance(factory, type) and issubclass(factory, EncoderStrategy)


def masked_lm(path: str) -> tuple[Any, list[str]]:
    """The checkpoint as ``AutoModelForMaskedLM`` and the head tensors it did not have (newly
    initialised); a ValueError naming the model type when transformers has no masked-LM class for it."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(path)
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ValueError(f"tapt needs a masked-language-model head: model type {config.model_type!r} has "
                         f"none in transformers (AutoModelForMaskedLM serves e.g. bert, roberta, deberta-v2, "
                         f"electra, modernbert); use the inner strategy alone for this model")
    # fp32 whatever the checkpoint's dtype (transformers 5 keeps a bf16 checkpoint's): stage 1 trains
    # every weight, which AdamW must not round to bf16 (load_backbone does the same for stage 2)
    model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True, dtype=torch.float32)
    return model, sorted(info.get("missing_keys", []))


class Tapt(EncoderStrategy):
    description = "task-adaptive pretraining (masked LM on the task's text), then an inner strategy"
    Options = TaptOptions
    search_space = {**EncoderStrategy.search_space, "tapt_lr": Float(3e-5, 3e-4, log=True),
                    "tapt_steps": Int(50, 400, log=True)}
    options: TaptOptions
    #: stage 1's encoder weights, set during :meth:`fit` only (what :meth:`prepare_backbone` loads)
    _adapted: dict[str, Any] | None = None

    def inner_strategy(self) -> EncoderStrategy:
        from tlbench import get_plugins

        o = self.options
        factory = get_plugins().strategies.get(o.inner).factory
        engine = {k: getattr(o, k) for k in EncoderOptions.model_fields}
        inner: EncoderStrategy = factory(f"{self.name}/{o.inner}",
                                         factory.Options.model_validate({**engine, **o.inner_options}))
        return inner

    def problem(self, head: Any) -> str | None:
        return self.inner_strategy().problem(head)

    def model_problem(self, model: ModelFacts) -> str | None:
        if model.masked_lm is False:
            kind = "a causal decoder" if model.decoder else "a model"
            return (f"tapt pretrains with a masked-LM head, and {model.id} is {kind} of type "
                    f"{model.model_type!r}, for which transformers has none (AutoModelForMaskedLM serves "
                    "e.g. bert, roberta, deberta-v2, electra, modernbert): use its inner strategy alone")
        return self.inner_strategy().model_problem(model)

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        if self._adapted is not None:
            missing, unexpected = backbone.load_state_dict(self._adapted, strict=False)
            if unexpected or missing:
                raise RuntimeError(f"the masked-LM encoder does not match the backbone: missing "
                                   f"{missing[:5]}, unexpected {unexpected[:5]}")
        return self.inner_strategy().prepare_backbone(backbone, job)

    def choose_trainable(self, model: Any) -> None:
        self.inner_strategy().choose_trainable(model)

    def make_optimizer(self, device: str) -> Any:
        return self.inner_strategy().make_optimizer(device)

    def pretrain(self, job: Job) -> tuple[dict[str, Any], Any, list[str]]:
        """Stage 1: the masked-LM encoder's weights after ``tapt_steps`` steps on the training text,
        the steps' compute counts, and the head tensors that were new."""
        from transformers import DataCollatorForLanguageModeling, set_seed

        from tlbench.engine import length_grouped_loader, load_tokenizer, rows_of
        from tlbench.engine.options import EngineOptions
        from tlbench.engine.training import Compute, run_steps

        o = self.options
        set_seed(job.seed)
        model, new = masked_lm(job.model.path)
        tokenizer = load_tokenizer(job.model.path)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=o.mlm_probability,
                                                   return_tensors="pt")
        rows = [{k: v for k, v in row.items() if k in _TEXT} for row in rows_of(job.encoded("train"))]
        loader = length_grouped_loader(rows, o.tapt_batch_size, collator, job.seed, o.length_grouping)
        options = EngineOptions(lr=o.tapt_lr, batch_size=o.tapt_batch_size, max_steps=o.tapt_steps,
                                warmup_ratio=0.06, weight_decay=0.01, grad_clip=o.grad_clip,
                                precision=o.precision, evals_per_epoch=0, min_evals=0)

        def batches() -> Any:
            while True:
                yield from loader

        def step_loss(batch: dict[str, Any]) -> Any:
            return model(**{k: v.to(job.device) for k, v in batch.items()}).loss

        compute = Compute()
        run_steps(model, batches(), step_loss, options, total=o.tapt_steps,
                  steps_per_epoch=max(1, len(loader)), micro_batches_per_epoch=len(loader), device=job.device,
                  progress=job.progress, description=f"{self.name} masked LM seed {job.seed}", count=compute)
        state = {k: v.detach().cpu() for k, v in model.base_model.state_dict().items()}
        return state, compute, new

    def fit(self, job: Job) -> Fitted:
        from tlbench.engine.training import Compute

        o = self.options
        start = time.perf_counter()
        tapt, new = Compute(), []
        if o.tapt_steps:
            self._adapted, tapt, new = self.pretrain(job)
        seconds = time.perf_counter() - start
        try:
            fitted: Any = super().fit(job)
        finally:
            self._adapted = None
        total = time.perf_counter() - start
        if o.tapt_steps:  # every encoder weight is the task's own now: stored and counted as trained
            fitted.module.requires_grad_(True)
        finetune = fitted.compute
        fitted.compute = add_compute(tapt, finetune)
        fitted.details = {**fitted.details, "inner": o.inner, "stages": {
            "tapt": {**stage_summary(tapt, seconds), "new_head_tensors": new},
            "finetune": stage_summary(finetune, total - seconds)}}
        return fitted

    def load(self, job: Job, directory: Any) -> Fitted:
        fitted: Any = super().load(job, directory)
        if self.options.tapt_steps:
            fitted.module.requires_grad_(True)  # as stored: the whole model
        return fitted

    def planned_examples(self, train_rows: int | None, *, group: Any = ()) -> float | None:
        """Stage 2's examples plus stage 1's ``tapt_steps x tapt_batch_size``."""
        stage2 = super().planned_examples(train_rows, group=group)
        if stage2 is None:
            return None
        return stage2 + self.options.tapt_steps * self.options.tapt_batch_size


@hookimpl
def register_strategies(register: Register) -> None:
    register("tapt", Tapt)
