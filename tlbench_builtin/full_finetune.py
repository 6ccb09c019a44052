"""``full_finetune``: every weight of the encoder and the task head trains.

Also the base of the strategies that train an encoder-plus-head model and differ only in which
weights train or what the encoder is wrapped in (``partial_freeze``, ``peft``): they override
:meth:`FullFinetune.prepare_backbone` or :meth:`FullFinetune.choose_trainable`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tlbench import Fitted, HeadSpec, Job, Strategy, hookimpl
from tlbench.engine.options import EngineOptions
from tlbench.space import Float


class FullFinetuneOptions(EngineOptions):
    pooling: Literal["cls", "mean"] = Field("cls", description="which token states feed the head")
    layers: Literal["last", "last4"] = Field(
        "last", description="the last layer's states, or the last four layers' concatenated")
    head: Literal["linear", "mlp", "crf"] = Field(
        "linear", description="linear; mlp (one hidden layer); crf (token labels only)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the head")


class FullFinetune(Strategy):
    description = "all encoder weights and the head train"
    Options = FullFinetuneOptions
    #: the usual BERT fine-tuning ranges (Devlin et al. 2019 tried 2e-5..5e-5; small models like more)
    search_space = {"lr": Float(1e-5, 3e-4, log=True), "warmup_ratio": Float(0.0, 0.2),
                    "weight_decay": Float(0.0, 0.1)}
    options: FullFinetuneOptions

    def problem(self, head: HeadSpec) -> str | None:
        from tlbench.engine.options import head_problem

        return head_problem(head, self.options.head)

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        """The encoder the head sits on (subclasses wrap it, e.g. with adapters)."""
        return backbone

    def choose_trainable(self, model: Any) -> None:
        """Set ``requires_grad`` on the encoder-plus-head model (here: everything trains)."""
        model.requires_grad_(True)

    def _build(self, job: Job) -> Any:
        from tlbench.engine import EncoderModel, load_backbone

        o = self.options
        model = EncoderModel(self.prepare_backbone(load_backbone(job.model), job), job.task.head, o.pooling,
                             o.dropout, head=o.head, layers=o.layers)
        self.choose_trainable(model)
        return model

    def _fitted(self, job: Job, model: Any) -> Fitted:
        from tlbench.engine import Collator, ModuleFitted, rows_of

        o = self.options
        pad = job.extra["pad_id"]
        return ModuleFitted(model, lambda role: rows_of(job.encoded(role)), Collator(pad),
                            device=job.device, batch_size=o.eval_batch_size, precision=o.precision)

    def fit(self, job: Job) -> Fitted:
        from transformers import set_seed

        from tlbench.engine import Collator, rows_of, train

        set_seed(job.seed)  # the head's initial weights (and any adapter's) come from the seed
        model = self._build(job)
        fitted = self._fitted(job, model)

        def evaluate() -> float:
            return job.score("select", fitted.predict("select"))[job.task.primary_metric]

        job.extra["curve"] = train(
            model, rows_of(job.encoded("train")), Collator(job.extra["pad_id"]), model.loss,
            self.options, seed=job.seed, device=job.device, evaluate=evaluate, report=job.report,
            progress=job.progress, description=f"{self.name} {job.task.name} seed {job.seed}")
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        return self._fitted(job, load_trained(self._build(job), directory))


@hookimpl
def register_strategies(register):  # noqa: ANN001, ANN201
    register("full_finetune", FullFinetune)
