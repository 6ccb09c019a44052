"""The reusable strategy bases: :class:`EngineStrategy` (any strategy that trains with the shared
engine and its :class:`~tlbench.engine.options.EngineOptions`) and :class:`EncoderStrategy`, a
pretrained encoder with the task's head on top, trained end to end by the engine.

:class:`EncoderStrategy` is what most strategy plugins subclass (``full_finetune``,
``partial_freeze``, ``peft``, ``tlbench-bitfit`` and ``tlbench-adapterhub`` do): the engine
trains, evaluates on the selection split, saves and reloads, and a subclass says only what differs,
by overriding :meth:`EncoderStrategy.prepare_backbone` (wrap the encoder: adapters, PEFT) or
:meth:`EncoderStrategy.choose_trainable` (which parameters train).

A private module: import these names from ``tlbench``. Nothing here imports torch at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from tlbench.engine.options import EngineOptions, head_problem
from tlbench.interfaces import NEUTRAL_DEFAULT, Fitted, HeadSpec, Job, Strategy, StrategyOptions
from tlbench.model_facts import ModelFacts
from tlbench.space import Float


class EngineStrategy(Strategy):
    """A strategy that trains with the shared engine: its options are :class:`EngineOptions` (or a
    subclass), which also describe its run for the record (:meth:`run_facts`) and the plan."""

    Options: ClassVar[type[StrategyOptions]] = EngineOptions
    options: EngineOptions

    def run_facts(self) -> dict[str, Any]:
        return {"precision": self.options.precision, "batch_size": self.options.batch_size}

    def planned_epochs(self) -> float:
        return float(self.options.epochs)

    def planned_examples(self, train_rows: int | None, *,
                         group: Sequence[int | None] = ()) -> float | None:
        """``max_steps x batch_size`` when ``max_steps`` is set (a suite's ``[training] budget`` in
        steps or examples): a step is ``grad_accum_steps`` micro-batches of ``batch_size //
        grad_accum_steps`` rows, so ``batch_size`` rows however it accumulates (the engine's
        ``train``). Else ``train_rows x epochs``."""
        if self.options.max_steps is not None:
            return float(self.options.max_steps * self.options.batch_size)
        return super().planned_examples(train_rows, group=group)


def checkpointing(backbone: Any) -> None:
    """Turn on activation (gradient) checkpointing in a transformers backbone, non-reentrant (no
    input needs ``requires_grad``, so frozen embeddings and PEFT adapters work, and dropout's random
    state is replayed in the recomputation); ValueError, naming the class, for an architecture
    transformers does not checkpoint. ``activation_checkpointing_enable`` is transformers 5's name;
    ``gradient_checkpointing_enable`` its older one."""
    if not getattr(backbone, "supports_gradient_checkpointing", False):
        raise ValueError(f"gradient_checkpointing: {type(backbone).__name__} does not support it in "
                         "transformers; unset gradient_checkpointing for this model")
    kwargs = {"use_reentrant": False}
    if hasattr(backbone, "activation_checkpointing_enable"):
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def base_model(backbone: Any) -> Any:
    """The transformers model inside a wrapper (PEFT's ``PeftModel``), else ``backbone`` itself."""
    get = getattr(backbone, "get_base_model", None)
    return get() if callable(get) else backbone


def pad_details(job: Job) -> dict[str, Any]:
    """For the record, when the tokenizer has no pad token (many decoders' tokenizers): the id the
    batches pad with instead (``Job.pad_id``). Padded positions are masked and never pooled."""
    from tlbench.engine.model import load_tokenizer

    if load_tokenizer(job.model.path).pad_token_id is not None:
        return {}
    return {"pad_token": f"the tokenizer has none; padded with id {job.pad_id} under the attention mask"}


class EncoderOptions(EngineOptions):
    """The engine's options plus how the head sits on the encoder."""

    pooling: Literal["auto", "cls", "mean", "last"] = Field(
        "auto", description="which token states feed a text-level head: auto (the last real token for "
                            "a causal decoder, else cls), cls (first token), mean, last (last real token)")
    layers: Literal["last", "last4"] = Field(
        "last", description="the last layer's states, or the last four layers' concatenated")
    head: Literal["linear", "mlp", "crf"] = Field(
        "linear", description="linear; mlp (one hidden layer); crf (token labels only)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the head")
    layer_decay: float | None = Field(
        None, gt=0, le=1.0, json_schema_extra=NEUTRAL_DEFAULT,
        description="layer-wise learning-rate decay: each parameter's lr is lr x layer_decay ** (its "
                    "distance from the top: head 0, top layer 1, ..., embeddings layers + 1); unset: off "
                    "(ELECTRA used 0.8, Clark et al. 2020)")
    gradient_checkpointing: bool = Field(
        False, json_schema_extra=NEUTRAL_DEFAULT,
        description="recompute each layer's activations during the backward pass instead of keeping "
                    "them (transformers' activation checkpointing, non-reentrant): less memory for large "
                    "backbones and long inputs, more compute; the same gradients")

    def identity(self) -> dict[str, Any]:
        """Ids hash ``pooling = "auto"`` as ``cls``: before ``auto`` existed ``cls`` was the default, and
        for the encoders that code served ``auto`` is ``cls``, so their runs keep their ids (the
        committed results' cells, ``tests/integration/test_ids.py``)."""
        out = super().identity()
        if out.get("pooling") == "auto":
            out["pooling"] = "cls"
        return out


class EncoderStrategy(EngineStrategy):
    """A pretrained encoder and the task's head (the engine's ``EncoderModel``), trained by the
    shared engine. As is, every weight trains (this is ``full_finetune``); subclasses override
    :meth:`prepare_backbone` or :meth:`choose_trainable`."""

    description = "a pretrained encoder and the task head, trained by the shared engine"
    Options = EncoderOptions
    #: the usual BERT fine-tuning ranges (Devlin et al. 2019 tried 2e-5..5e-5; small models like more)
    search_space = {"lr": Float(1e-5, 3e-4, log=True), "warmup_ratio": Float(0.0, 0.2),
                    "weight_decay": Float(0.0, 0.1)}
    options: EncoderOptions

    def problem(self, head: HeadSpec) -> str | None:
        return head_problem(head, self.options.head)

    def model_problem(self, model: ModelFacts) -> str | None:
        if self.options.layer_decay is not None and model.shared_layers:
            return (f"layer_decay needs one set of weights per layer; {model.id} ({model.model_type}) "
                    f"shares its weights between layers (ALBERT-style): unset layer_decay for it")
        return None

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        """The encoder the head sits on (``backbone`` is a transformers ``AutoModel``); subclasses
        wrap it, e.g. with adapters."""
        return backbone

    def choose_trainable(self, model: Any) -> None:
        """Set ``requires_grad`` on the encoder-plus-head model (``model.backbone`` is what
        :meth:`prepare_backbone` returned, ``model.head`` the task head). Here everything trains.
        The engine optimizes, counts and saves exactly the parameters with ``requires_grad`` set."""
        model.requires_grad_(True)

    def make_optimizer(self, device: str) -> Any:
        """A factory for this strategy's own optimizer (called with the model on ``device``), or None
        for the engine's AdamW (``tlbench.engine.training.adamw``: weight-decay groups, and
        ``layer_decay`` when set). LoRA+ overrides it."""
        return None

    def _build(self, job: Job) -> Any:
        from tlbench.engine import EncoderModel, load_backbone
        from tlbench.engine.model import check_backbone_dtype, check_max_length, train_in_fp32

        o = self.options
        if o.backbone_dtype != "fp32":
            check_backbone_dtype(o.backbone_dtype, job.device, o.precision)
        backbone = load_backbone(job.model, dtype=o.backbone_dtype)
        check_max_length(backbone, getattr(job.task.options, "max_length", None))
        if o.gradient_checkpointing:
            checkpointing(backbone)
        model = EncoderModel(self.prepare_backbone(backbone, job), job.task.head, o.pooling,
                             o.dropout, head=o.head, layers=o.layers)
        self.choose_trainable(model)
        train_in_fp32(model)
        return model

    @staticmethod
    def backbone_details(model: Any) -> dict[str, Any]:
        """What the record's details say about how the backbone was used: the pooling ``auto``
        resolved to (text-level heads), the attention implementation, whether it is a decoder."""
        from tlbench.engine.model import attention_implementation, is_decoder

        base = getattr(model.backbone, "config", None)
        details: dict[str, Any] = {"attention": attention_implementation(model.backbone),
                                   "decoder": bool(is_decoder(base))}
        if model.pooling is not None:
            details["pooling"] = model.pooling
        held = next((p.dtype for p in model.backbone.parameters() if not p.requires_grad), None)
        if held is not None and str(held) != "torch.float32":
            details["backbone_dtype"] = str(held).removeprefix("torch.")
        if getattr(base_model(model.backbone), "is_activation_checkpointing", False):
            details["gradient_checkpointing"] = True
        return details

    def _fitted(self, job: Job, model: Any) -> Any:
        from tlbench.engine import Collator, ModuleFitted, rows_of

        o = self.options
        return ModuleFitted(model, lambda role: rows_of(job.encoded(role)), Collator(job.pad_id),
                            device=job.device, batch_size=o.eval_batch_size, precision=o.precision)

    def fit(self, job: Job) -> Fitted:
        from transformers import set_seed

        from tlbench.engine import Collator, rows_of, train
        from tlbench.engine.training import Compute

        set_seed(job.seed)  # the head's initial weights (and any adapter's) come from the seed
        model = self._build(job)
        fitted = self._fitted(job, model)
        fitted.details = {**fitted.details, **self.backbone_details(model), **pad_details(job)}

        def evaluate() -> float:
            return job.score("select", fitted.predict("select"))[job.task.primary_metric]

        fitted.compute = Compute()  # steps, epochs, examples and tokens, for the record's cost
        fitted.curve = train(
            model, rows_of(job.encoded("train")), Collator(job.pad_id), model.loss, self.options,
            seed=job.seed, device=job.device, evaluate=evaluate, report=job.report, progress=job.progress,
            description=f"{self.name} {job.task.name} seed {job.seed}", count=fitted.compute,
            make_optimizer=self.make_optimizer(job.device))
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        return self._fitted(job, load_trained(self._build(job), directory))
