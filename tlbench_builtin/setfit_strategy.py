"""``setfit``: SetFit (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts"), through
the SetFit library itself (``pip install 'tlbench[setfit]'``; written against setfit 1.2.0 with
sentence-transformers 6.3 and transformers 5).

Two stages, both SetFit's own code (``setfit.Trainer``): the model's encoder, wrapped as a
sentence-transformers body (a plain transformers directory gets mean pooling; a sentence-transformers
directory keeps its own pooling), is fine-tuned contrastively on pairs of training texts (the same
class: cosine target 1, different classes: 0; ``CosineSimilarityLoss``), then a scikit-learn
``LogisticRegression`` head is fitted on the tuned body's embeddings of the training rows. Predictions
are the head's class probabilities (``predict_proba``), one column per class of the task in label
order (a class absent from the training rows gets probability 0).

Input text: a single-text task's text; for a text pair the two texts joined by the body tokenizer's
separator token (``"a [SEP] b"``), because SetFit embeds one text per example and has no pair input.
Tokens are cut at the task's ``max_length`` (the body's ``max_seq_length``), a pair from the right
(the second text first), where the task's own encoding cuts the longer text first.

Classification and pair classification only: SetFit's pairs are positive when two examples share a
class, so a regression target has none (and SetFit 1.2 offers no regression head); token labels and
answer spans are not one embedding per text. These are refused at validation (:meth:`SetFit.problem`).

Defaults are SetFit's (paper and library), nothing tuned on report data: 20 pair-generating
iterations (the paper's R = 20 and ``SetFitTrainer``'s default before 1.0; SetFit 1.x without it
oversamples every unique pair, ``num_iterations = None`` here), body learning rate 2e-5, one epoch,
batch size 16 (``setfit.TrainingArguments``), a logistic-regression head with scikit-learn's defaults
(``LogisticRegression()``, ``max_iter`` 100), and SetFit's 10 % warm-up and 0.01 weight decay.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from tlbench import Fitted, Float, HeadSpec, Int, Job, Register, Strategy, StrategyOptions, hookimpl


class SetFitOptions(StrategyOptions):
    num_iterations: int | None = Field(
        20, gt=0, le=1000,
        description="pairs per training row and iteration: 2 x num_iterations x rows pairs in all (the "
                    "paper's R = 20, SetFitTrainer's default); None: SetFit 1.x's oversampling of every "
                    "unique pair")
    body_learning_rate: float = Field(
        2e-5, gt=0, le=1.0, description="the body's contrastive learning rate (SetFit's default, 2e-5)")
    epochs: int = Field(1, gt=0, le=100, description="passes over the generated pairs (SetFit's default, 1)")
    batch_size: int = Field(16, gt=0, le=65536, description="pairs per optimizer step (SetFit's default, 16)")
    head_max_iter: int = Field(
        100, gt=0, le=100000,
        description="iterations of the logistic-regression head's solver (scikit-learn's and so SetFit's "
                    "default, 100)")
    eval_batch_size: int = Field(32, gt=0, le=65536, description="texts per batch when predicting "
                                                                 "(SetFit's predict default, 32)")


class SetFit(Strategy):
    description = "SetFit: contrastive fine-tuning of a sentence-transformer body, then a logistic head"
    Options = SetFitOptions
    search_space: ClassVar[dict[str, Any]] = {
        "body_learning_rate": Float(1e-5, 1e-4, log=True), "num_iterations": Int(5, 40, log=True)}
    options: SetFitOptions

    def problem(self, head: HeadSpec) -> str | None:
        if head.kind != "classification":
            why = {"regression": "a regression target has no classes to pair, and SetFit 1.2 has no "
                                 "regression head",
                   "token_classification": "it labels whole texts, not tokens",
                   "span": "it labels whole texts, not answer spans"}.get(head.kind, "")
            return (f"setfit serves classification and pair classification only; this task's head is "
                    f"{head.kind!r} ({why}): use full_finetune, lora or linear_probe")
        if importlib.util.find_spec("setfit") is None:
            return "setfit needs the SetFit library: pip install 'tlbench[setfit]' (setfit>=1.2)"
        return None

    def run_facts(self) -> dict[str, Any]:
        return {"precision": "fp32", "batch_size": self.options.batch_size}

    def planned_epochs(self) -> float:
        return float(self.options.epochs)

    def planned_examples(self, train_rows: int | None, *, group: Any = ()) -> float | None:
        """Pairs drawn over every epoch, plus the head's one pass over the rows (``None`` iterations:
        SetFit's oversampling, about half the rows squared)."""
        if train_rows is None:
            return None
        o = self.options
        pairs = (2 * o.num_iterations * train_rows if o.num_iterations is not None
                 else train_rows * (train_rows + 1) // 2)
        return float(pairs * o.epochs + train_rows)

    def fit(self, job: Job) -> Fitted:
        problem = self.problem(job.task.head)
        if problem:
            raise ValueError(problem)
        import setfit
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers import PrinterCallback, ProgressCallback

        from tlbench.engine.training import Compute

        setfit.logging.set_verbosity_warning()  # setfit.sampler turns its logger to INFO on import
        o = self.options
        model = SetFitModel.from_pretrained(job.model.path, device=job.device,
                                            head_params={"max_iter": o.head_max_iter})
        set_length(model, job)
        texts = input_texts(job, "train", model)
        labels = [int(y) for y in job.encoded("train")["labels"]]
        if len(labels) != len(texts):
            raise ValueError(f"setfit: {len(texts)} training texts but {len(labels)} encoded labels")
        if len(set(labels)) < 2:
            raise ValueError(f"setfit needs two classes or more among the training rows, found {set(labels)}")
        count = Compute()
        _count_tokens(model.model_body, count)
        with tempfile.TemporaryDirectory() as out:
            args = TrainingArguments(
                output_dir=out, num_iterations=o.num_iterations, batch_size=o.batch_size,
                num_epochs=o.epochs, body_learning_rate=o.body_learning_rate, seed=job.seed,
                report_to="none", save_strategy="no", logging_strategy="no", logging_first_step=False,
                show_progress_bar=False)
            trainer = Trainer(model=model, args=args,
                              train_dataset=Dataset.from_dict({"text": texts, "label": labels}))
            for noisy in (ProgressCallback, PrinterCallback):  # a bar, or printed logs (disable_tqdm)
                trainer.st_trainer.remove_callback(noisy)
            trainer.st_trainer.args.dataloader_pin_memory = False  # pinning warns on a CPU, helps little
            try:
                trainer.train()
            finally:
                del model.model_body.preprocess  # the instance's wrapper: back to the class's method
        state = trainer.st_trainer.state
        pairs = len(trainer.st_trainer.train_dataset)
        count.optimizer_steps = int(state.global_step)
        count.micro_batches = int(state.global_step)
        count.epochs = float(state.epoch or 0.0)
        count.examples_seen = round(pairs * count.epochs) + len(texts)  # pairs drawn + the head's rows
        fitted = SetFitFitted(job, model, o)
        fitted.compute = count
        fitted.details = {
            "setfit_version": setfit.__version__, "pairs": pairs,
            "pair_sampling": (f"num_iterations {o.num_iterations}: 2 x {o.num_iterations} x {len(texts)} rows"
                              if o.num_iterations is not None else "oversampling (SetFit 1.x default)"),
            "body_optimizer_steps": count.optimizer_steps, "head": "LogisticRegression",
            "head_rows": len(texts), "head_classes": [int(c) for c in model.model_head.classes_],
            "max_seq_length": int(model.model_body.max_seq_length), **pair_note(job, model)}
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from setfit import SetFitModel

        model = SetFitModel.from_pretrained(str(directory), device=job.device)
        set_length(model, job)
        return SetFitFitted(job, model, self.options)


class SetFitFitted(Fitted):
    """A SetFit model: a sentence-transformers body and a scikit-learn head, so no single torch module
    (``module`` stays None; the kit's weight-level checks skip, tests/plugins/test_setfit.py checks
    the counts)."""

    def __init__(self, job: Job, model: Any, options: SetFitOptions):
        self.job, self.model, self.options = job, model, options

    def predict(self, role: Any) -> np.ndarray:
        """Class probabilities ``[rows, num_labels]`` in the task's label order."""
        proba = np.asarray(self.model.predict_proba(input_texts(self.job, role, self.model), as_numpy=True,
                                                    batch_size=self.options.eval_batch_size,
                                                    show_progress_bar=False), dtype=np.float32)
        classes = np.asarray(self.model.model_head.classes_, dtype=np.int64)
        out = np.zeros((proba.shape[0], self.job.task.head.num_labels), dtype=np.float32)
        out[:, classes] = proba
        return out

    def parameter_counts(self) -> tuple[int, int]:
        """Every body weight trains in the contrastive stage, and the head's coefficients and
        intercepts are fitted: trainable = total = body + head."""
        head = self.model.model_head
        body = sum(p.numel() for p in self.model.model_body.parameters())
        n = body + int(np.size(head.coef_)) + int(np.size(head.intercept_))
        return n, n

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(str(directory))


def set_length(model: Any, job: Job) -> None:
    """Cut texts at the task's ``max_length`` (ValueError above the encoder's positions)."""
    from tlbench.engine.model import check_max_length

    max_length = getattr(job.task.options, "max_length", None)
    if max_length is not None:
        check_max_length(model.model_body[0].auto_model, max_length)
        model.model_body.max_seq_length = max_length


def text_columns(job: Job) -> tuple[str, ...]:
    """The task's text columns (``TextTask.text_columns``), else the train split's string columns."""
    columns = getattr(job.task, "text_columns", None)
    if not columns:
        split = job.data.splits["train"]
        label = getattr(job.task, "label_column", "label")
        columns = tuple(c for c, f in split.features.items()
                        if c != label and getattr(f, "dtype", None) == "string")
    if not 1 <= len(columns) <= 2:
        raise ValueError(f"setfit needs one text column or a pair; {job.task.name} has {list(columns)}")
    return tuple(columns)


def input_texts(job: Job, role: Any, model: Any) -> list[str]:
    """One text per row of split ``role``; a pair joined by the body tokenizer's separator token."""
    split, columns = job.data.splits[role], text_columns(job)
    if len(columns) == 1:
        return [str(t) for t in split[columns[0]]]
    sep = f" {separator(model)} "
    return [f"{a}{sep}{b}" for a, b in zip(split[columns[0]], split[columns[1]], strict=True)]


def separator(model: Any) -> str:
    return getattr(model.model_body.tokenizer, "sep_token", None) or "|"


def pair_note(job: Job, model: Any) -> dict[str, Any]:
    if len(text_columns(job)) == 1:
        return {}
    return {"pair_text": f"the two texts joined by {separator(model)!r} (SetFit embeds one text)"}


def _count_tokens(body: Any, count: Any) -> None:
    """Count, into ``count``, the real and padded tokens of every batch the body tokenizes while
    training (both texts of each pair, then the head's pass over the rows): wraps ``preprocess`` on
    the instance, which ``fit`` removes again."""
    original = body.preprocess

    def preprocess(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        ids, mask = out.get("input_ids"), out.get("attention_mask")
        if ids is not None:
            count.padded_tokens += int(ids.numel())
            count.tokens += int(mask.sum()) if mask is not None else int(ids.numel())
        return out

    body.preprocess = preprocess


@hookimpl
def register_strategies(register: Register) -> None:
    register("setfit", SetFit)
