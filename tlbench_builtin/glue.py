"""GLUE tasks (Wang et al., 2019), from ``nyu-mll/glue`` or the offline mirror.

Split roles: GLUE's test labels are hidden (-1), so the reported score is on the official
validation split, and hyperparameters are chosen on rows carved from train (seeded, stratified).
QQP, MNLI and QNLI are registered for Hub use: the offline mirror does not hold their files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import Field

from tlbench import TaskOptions, TextTask, hookimpl

HUB_ID = "nyu-mll/glue"
BINARY = ("negative", "positive")
ENTAIL = ("entailment", "not_entailment")


class Glue(TextTask):
    hub_id = HUB_ID
    primary_metric = "accuracy"
    secondary_metrics: ClassVar[tuple[str, ...]] = ("macro_f1",)

    @property
    def folder(self) -> str:  # type: ignore[override]
        return self.hub_config or ""


class Sst2(Glue):
    description = "SST-2 binary sentiment of movie-review sentences; accuracy"
    hub_config, text_columns, default_labels = "sst2", ("sentence",), BINARY
    source_datasets = ("sst2", "sst", "stanford sentiment treebank")


class Cola(Glue):
    description = "CoLA grammatical acceptability; Matthews correlation"
    hub_config, text_columns, default_labels = "cola", ("sentence",), ("unacceptable", "acceptable")
    source_datasets = ("cola",)
    primary_metric = "matthews"
    secondary_metrics = ("accuracy", "macro_f1")

    def extra_metrics(self, predictions: np.ndarray, references: Sequence[int]) -> dict[str, float]:
        from sklearn.metrics import matthews_corrcoef

        return {"matthews": float(matthews_corrcoef(references, predictions))}


class _PositiveF1(Glue):
    """GLUE's F1 for paraphrase tasks: binary F1 of the positive class (1)."""

    primary_metric = "f1"
    secondary_metrics = ("accuracy", "macro_f1")

    def extra_metrics(self, predictions: np.ndarray, references: Sequence[int]) -> dict[str, float]:
        from sklearn.metrics import f1_score

        return {"f1": float(f1_score(references, predictions, pos_label=1, zero_division=0))}


class Mrpc(_PositiveF1):
    description = "MRPC paraphrase of sentence pairs; F1 (and accuracy)"
    hub_config, text_columns = "mrpc", ("sentence1", "sentence2")
    source_datasets = ("mrpc",)
    default_labels = ("not_equivalent", "equivalent")


class Qqp(_PositiveF1):
    description = "QQP duplicate questions; F1 and accuracy (Hub only: not in the offline mirror)"
    hub_config, text_columns = "qqp", ("question1", "question2")
    source_datasets = ("qqp", "quora")  # Quora's question pairs
    default_labels = ("not_duplicate", "duplicate")


class Rte(Glue):
    description = "RTE textual entailment; accuracy"
    hub_config, text_columns, default_labels = "rte", ("sentence1", "sentence2"), ENTAIL
    source_datasets = ("rte",)


class WnliOptions(TaskOptions):
    select_examples: int = Field(127, gt=0, description="rows carved from WNLI's 635 training rows (20 %)")


class Wnli(Glue):
    description = "WNLI Winograd NLI (adversarial dev: majority class wins); accuracy"
    Options = WnliOptions
    hub_config, text_columns = "wnli", ("sentence1", "sentence2")
    source_datasets = ("wnli", "wsc", "winograd")  # from the Winograd Schema Challenge
    default_labels = ("not_entailment", "entailment")


class Qnli(Glue):
    description = "QNLI question-answer entailment; accuracy (Hub only: not in the offline mirror)"
    hub_config, text_columns, default_labels = "qnli", ("question", "sentence"), ENTAIL
    source_datasets = ("qnli", "squad")  # SQuAD v1.1's questions and paragraph sentences


class Mnli(Glue):
    description = "MNLI matched: 3-way NLI; accuracy (Hub only: not in the offline mirror)"
    hub_config, text_columns = "mnli", ("premise", "hypothesis")
    #: sentence-transformers' AllNLI is SNLI and MultiNLI together
    source_datasets = ("mnli", "multinli", "multi_nli", "allnli")
    default_labels = ("entailment", "neutral", "contradiction")
    report_split = "validation_matched"


class MnliMismatched(Mnli):
    description = "MNLI mismatched genres: 3-way NLI; accuracy (Hub only: not in the offline mirror)"
    report_split = "validation_mismatched"


class Stsb(Glue):
    description = "STS-B sentence similarity 0-5; regression head, Pearson and Spearman"
    hub_config, text_columns, default_labels = "stsb", ("sentence1", "sentence2"), ()
    source_datasets = ("stsb", "sts-b", "sts benchmark")
    regression = True
    primary_metric = "pearson"
    secondary_metrics = ("spearman",)


TASKS = {"sst2": Sst2, "cola": Cola, "mrpc": Mrpc, "qqp": Qqp, "rte": Rte, "wnli": Wnli, "qnli": Qnli,
         "mnli": Mnli, "mnli_mismatched": MnliMismatched, "stsb": Stsb}


@hookimpl
def register_tasks(register):  # the hookspec documents the types
    for name, cls in TASKS.items():
        register(name, cls)
