"""Shared pieces of text-classification tasks: tokenization with truncation accounting, metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def encode_texts(tokenizer: Any, texts: Sequence[str] | tuple[Sequence[str], Sequence[str]],
                 labels: Sequence[Any], max_length: int) -> dict[str, list[Any]]:
    """Token ids cut at ``max_length``, plus each row's untruncated length and whether it was cut."""
    pair = isinstance(texts, tuple)
    args = texts if pair else (texts,)
    full = tokenizer(*args, truncation=False)["input_ids"]
    cut = tokenizer(*args, truncation="longest_first" if pair else True, max_length=max_length)
    return {"input_ids": cut["input_ids"], "labels": list(labels),
            "n_tokens": [len(x) for x in full], "truncated": [len(x) > max_length for x in full]}


def classification_metrics(predictions: np.ndarray, references: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 (scikit-learn's definitions)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y = np.asarray(references)
    p, r, f, _ = precision_recall_fscore_support(y, predictions, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(y, predictions)), "macro_precision": float(p),
            "macro_recall": float(r), "macro_f1": float(f)}
