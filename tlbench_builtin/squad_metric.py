"""The official SQuAD v1.1 evaluation (``evaluate-v1.1.py`` of Rajpurkar et al., 2016), by hand.

The official script *is* the definition of SQuAD's exact match and F1, so its functions are written
out here line for line rather than taken from a library: the Hugging Face ``evaluate`` package is not
installed, and its ``squad`` metric would have to be downloaded from the Hub, which a benchmark run
offline cannot do. The behaviour is the script's: answers are lower-cased, ASCII punctuation
(``string.punctuation``) is removed, then the articles a/an/the, then whitespace runs collapse; F1 is
over the bag of normalized tokens; a prediction scores the maximum over the gold answers; the totals
are percentages (0-100).

Empty answers are scored as the script scores them, even where that looks odd: a gold answer that
normalizes to nothing (three v1.1 validation questions list "." among their gold answers) gives F1 0
to every prediction, while exact match gives 1 to a prediction that also normalizes to nothing. A
question with no gold answer at all (never in v1.1; the script would fail on it) scores 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official order)."""

    def remove_articles(text: str) -> str:
        return _ARTICLES.sub(" ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        return "".join(ch for ch in text if ch not in _PUNCTUATION)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token F1 between one prediction and one gold answer, in 0-1."""
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """1.0 when the normalized strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn: Callable[[str, str], float], prediction: str,
                                  ground_truths: Sequence[str]) -> float:
    """The best score of ``prediction`` against any gold answer (0 when there is none)."""
    return max((metric_fn(prediction, gt) for gt in ground_truths), default=0.0)


def evaluate(predictions: Sequence[str] | Mapping[str, str],
             references: Sequence[Sequence[str]] | Mapping[str, Sequence[str]]) -> dict[str, float]:
    """``exact_match`` and ``f1`` in percent (0-100), averaged over the questions.

    Either two aligned sequences (one prediction and one list of gold answers per question), or, as
    the official script takes them, two mappings from question id; then every question of
    ``references`` counts, and one without a prediction scores 0.
    """
    if isinstance(references, Mapping):
        if not isinstance(predictions, Mapping):
            raise TypeError("references keyed by question id need predictions keyed by id too")
        pairs = [(predictions.get(qid), golds) for qid, golds in references.items()]
    else:
        if isinstance(predictions, Mapping) or len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} questions")
        pairs = list(zip(predictions, references, strict=True))
    exact_match = f1 = 0.0
    for prediction, golds in pairs:
        if prediction is None:
            continue
        exact_match += metric_max_over_ground_truths(exact_match_score, prediction, golds)
        f1 += metric_max_over_ground_truths(f1_score, prediction, golds)
    total = len(pairs)
    return {"exact_match": 100.0 * exact_match / total if total else 0.0,
            "f1": 100.0 * f1 / total if total else 0.0}
