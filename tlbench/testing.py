"""Contract tests that built-in and third-party plugins subclass (like optuna's sampler test cases).

A strategy plugin's test module needs three lines::

    from tlbench.testing import StrategyContract

    class TestBitFit(StrategyContract):
        strategy = "bitfit"

Everything runs on CPU in seconds: a tiny BERT built from a config (no download) and
:class:`ToyTask`, an in-memory sentiment task a few epochs can learn (or :class:`ToyTagTask`, its
token-classification twin: ``task_class = ToyTagTask``; :class:`ToyRegressionTask`, its regression
twin; all three in :mod:`tlbench.toy_tasks`). The contract checks that the reported
trainable count is the real one, frozen encoder weights are bit-identical after training, a fresh
instance reloads what ``save`` wrote and predicts the same, the same seed gives the same result, and
the metric is in range and above what a predictor that learns nothing scores (the majority label;
"O" everywhere), by ``margin`` or up to ``min_accuracy``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from tlbench.interfaces import ModelRef, Task, TaskData, TaskOptions
from tlbench.plugins import Plugins
from tlbench.toy_tasks import (  # the kit's toy tasks, public here
    BAD,
    FILLER,
    GOOD,
    TAGS,
    TOY_LABELS,
    ToyRegressionTask,
    ToyTagTask,
    ToyTask,
    entity_spans,
    toy_regression_rows,
    toy_rows,
    toy_tag_rows,
)


def tiny_bert(directory: Path, *, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """Write a randomly initialised tiny BERT and its WordPiece tokenizer to ``directory``."""
    import torch

    # transformers 5 exports BertTokenizerFast lazily without declaring it to type checkers
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GOOD, *BAD, *FILLER,
             *[chr(c) for c in range(ord("a"), ord("z") + 1)],
             *[f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)], ".", ","]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    ids = {w: i for i, w in enumerate(vocab)}
    try:  # transformers 5 takes the vocabulary itself ...
        tokenizer = BertTokenizerFast(vocab=ids)
    except (TypeError, ValueError):
        tokenizer = None
    if tokenizer is None or tokenizer.convert_tokens_to_ids("good") != ids["good"]:
        tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"))  # ... 4.x a file
    assert tokenizer.convert_tokens_to_ids("good") == ids["good"], "tiny tokenizer lost its vocabulary"
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=64)
    BertModel(config).save_pretrained(directory)
    return directory


def trivial_score(job: Any) -> float:
    """The primary metric, on the report split, of the predictor that learns nothing: the task's
    own (``Task.trivial_predictions``) where it declares one; else every row the training split's most
    frequent label (text classification), every word "O" (token classification): on :class:`ToyTask`
    and :class:`ToyTagTask` the two agree."""
    report = job.data.splits["report"]
    declared = job.task.trivial_predictions(job.data)
    if declared is not None:
        return float(job.task.score(declared[1], report)[job.task.primary_metric])
    if job.task.head.kind == "token_classification":
        predictions: Any = [[0] * len(tags) for tags in report["tags"]]
    else:
        labels = list(job.data.splits["train"]["label"])
        predictions = np.full(len(report), max(set(labels), key=labels.count))
    return float(job.task.score(predictions, report)[job.task.primary_metric])


@functools.cache
def installed_plugins() -> Plugins:
    """What ``tlbench`` itself loads here (the built-ins and the installed third-party plugins, the
    plugin under test among them), built once per process: the contracts' default plugin manager."""
    return Plugins()


def build_strategy(name: str, options: Mapping[str, Any] | None = None,
                   plugins: Plugins | None = None) -> Any:
    """The registered strategy ``name`` with ``options`` validated as a suite's are (the plugin
    manager in the validation context); ``plugins``: default :func:`installed_plugins`."""
    plugins = plugins or installed_plugins()
    entry = plugins.strategies.get(name)
    options = entry.factory.Options.model_validate(dict(options or {}), context={"plugins": plugins})
    return entry.factory(name, options)


def toy_job(model: ModelRef, cache_dir: Path, task_class: type[Task] = ToyTask, *,
            plugins: Plugins | None = None, **task_options: Any) -> Any:
    """A job of a toy task (``task_options``: its :class:`TaskOptions`) on ``model``, seed 0, on the CPU."""
    from tlbench.runner import prepare_job

    task = task_class("toy", TaskOptions(**task_options))
    return prepare_job(task, model, task.load(None), seed=0, device="cpu", cache_dir=cache_dir,
                       plugins=plugins or installed_plugins())


class _GivenPlugins:
    #: the plugin manager a contract looks its strategy or task up in, and gives to its jobs
    #: (``Job.plugins``). None: :func:`installed_plugins`. A test of a plugin that is not installed
    #: sets one: ``plugins = Plugins(entry_points=False)`` and ``plugins.add(my_module, ...)``.
    plugins: ClassVar[Plugins | None] = None

    @classmethod
    def plugin_manager(cls) -> Plugins:
        return cls.plugins if cls.plugins is not None else installed_plugins()


class StrategyContract(_GivenPlugins):
    """Subclass, set ``strategy`` (a registered name) and, if needed, ``options`` and ``task_class``
    (:class:`ToyTask`, text classification; :class:`ToyTagTask`, token classification;
    :class:`ToyRegressionTask`, regression)."""

    strategy: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    task_class: ClassVar[type[Task]] = ToyTask
    #: transformer layers of the tiny BERT (options such as ``layers = "last4"`` need four)
    model_layers: ClassVar[int] = 2
    #: the floor of the primary metric on the report split. None: the trivial predictor's score
    #: (:func:`trivial_score`: about 0.53 on :class:`ToyTask`, 0 entity F1 on :class:`ToyTagTask`) plus
    #: ``margin``. A floor at or below the trivial score is an error: the check would mean nothing.
    min_accuracy: ClassVar[float | None] = None
    margin: ClassVar[float] = 0.1
    #: False for a strategy that cannot learn the toy task in the contract's budget (say a method that
    #: trains only prompts on the random tiny BERT): the floor test is then skipped, with this reason
    #: shown, instead of passing on a floor that means nothing. Say why in a comment.
    learns_toy_task: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def workdir(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp(f"contract-{cls.strategy}")

    @pytest.fixture(scope="class")
    @classmethod
    def job(cls, workdir: Path) -> Any:
        model_dir = tiny_bert(workdir / f"tiny-bert-{cls.model_layers}", layers=cls.model_layers)
        return toy_job(ModelRef("tiny-bert", str(model_dir), "test"), workdir / "cache", cls.task_class,
                       plugins=cls.plugin_manager(), select_examples=64, max_length=16)

    @pytest.fixture(scope="class")
    @classmethod
    def instance(cls) -> Any:
        return cls.new_instance()

    @classmethod
    def new_instance(cls) -> Any:
        return build_strategy(cls.strategy, cls.options, cls.plugin_manager())

    @pytest.fixture(scope="class")
    @classmethod
    def pretrained(cls, job: Any) -> dict[str, Any]:
        """The pretrained encoder's weights, read before anything trains."""
        from transformers import AutoModel

        return {k: v.clone() for k, v in AutoModel.from_pretrained(job.model.path).state_dict().items()}

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, instance: Any, job: Any, pretrained: dict[str, Any]) -> Any:
        return instance.fit(job)

    def test_options_have_defaults(self) -> None:
        entry = self.plugin_manager().strategies.get(self.strategy)
        entry.factory.Options()  # a suite may name a strategy with an empty table

    def test_serves_the_task(self, instance: Any, job: Any) -> None:
        assert instance.problem(job.task.head) is None

    def test_trainable_count_is_true(self, fitted: Any) -> None:
        trainable, total = fitted.parameter_counts()
        assert 0 <= trainable <= total and total > 0
        module = trained_module(fitted)
        assert trainable == sum(p.numel() for p in module.parameters() if p.requires_grad)

    def test_fit_reports_through_fitted(self, instance: Any, fitted: Any) -> None:
        """What ``fit`` hands back for the record has the types the ABCs declare."""
        assert all(len(point) == 2 and isinstance(point[0], int) and isinstance(point[1], float)
                   for point in fitted.curve), fitted.curve
        assert isinstance(fitted.details, Mapping)
        facts = instance.run_facts()
        assert isinstance(facts, Mapping) and set(facts) <= {"precision", "batch_size"}, facts
        assert instance.planned_epochs() > 0

    def test_frozen_weights_stay_frozen(self, fitted: Any, pretrained: dict[str, Any]) -> None:
        """Every encoder weight the model holds that does not train is bit-identical to the
        checkpoint's after training; a model holding no encoder weights (a head on cached features)
        must report the frozen encoder in its total."""
        module = trained_module(fitted)
        frozen = checked = 0
        for name, p in module.named_parameters():
            plain = name.replace(".base_layer", "")  # PEFT renames the weights it wraps
            base = next((k for k in pretrained if plain.endswith("." + k) or plain == k), None)
            if p.requires_grad or base is None:
                continue
            frozen += 1
            if p.shape == pretrained[base].shape:
                assert torch_equal(p, pretrained[base]), f"frozen weight {name} changed in training"
                checked += 1
        assert checked == frozen
        trainable, total = fitted.parameter_counts()
        own = sum(p.numel() for p in module.parameters())
        if trainable < total and own == trainable:  # head only: the frozen encoder lives elsewhere
            assert total - trainable >= sum(v.numel() for k, v in pretrained.items()
                                            if "pooler" not in k) * 0.9

    def test_save_reload_gives_same_predictions(self, fitted: Any, job: Any, tmp_path: Path) -> None:
        fitted.save(tmp_path)
        assert any(tmp_path.iterdir()), "save() wrote nothing"
        again = self.new_instance().load(job, tmp_path)  # a fresh instance: nothing shared in memory
        assert_same_outputs(again.predict("report"), fitted.predict("report"))

    def test_same_seed_same_result(self, fitted: Any, job: Any) -> None:
        again = self.new_instance().fit(job)
        assert_same_outputs(again.predict("report"), fitted.predict("report"))

    def test_metrics_in_range(self, fitted: Any, job: Any) -> None:
        outputs = fitted.predict("report")
        assert len(outputs) == len(job.data.splits["report"])
        metrics = job.score("report", outputs)
        primary = metrics[job.task.primary_metric]
        assert 0.0 <= primary <= 1.0

    def test_beats_the_trivial_predictor(self, fitted: Any, job: Any) -> None:
        """The toy task is learnable: the primary metric is above what predicting the majority label
        (or "O" everywhere) scores, by ``margin`` or up to ``min_accuracy``."""
        if not self.learns_toy_task:
            pytest.skip(f"{type(self).__name__} sets learns_toy_task = False: no floor above the "
                        "trivial predictor is checked")
        trivial = trivial_score(job)
        floor = trivial + self.margin if self.min_accuracy is None else self.min_accuracy
        assert floor > trivial, (f"min_accuracy {floor:g} is not above the trivial predictor's "
                                 f"{trivial:.3f}: the check would pass without learning anything")
        primary = job.score("report", fitted.predict("report"))[job.task.primary_metric]
        assert primary >= floor, (f"{job.task.primary_metric} {primary:.3f} < floor {floor:.3f} "
                                  f"(the trivial predictor scores {trivial:.3f})")


class GroupStrategyContract(StrategyContract):
    """For a strategy that trains tasks together (``Strategy.task_group`` returns a group): the
    single-task contract above, plus ``fit_group`` on two toy tasks at once, one classifying texts
    and one labelling tokens (two kinds of head on one model)."""

    @pytest.fixture(scope="class")
    @classmethod
    def group_jobs(cls, workdir: Path, job: Any) -> dict[str, Any]:
        from tlbench.runner import prepare_job

        jobs = {"texts": job}
        tags = ToyTagTask("tags", TaskOptions(select_examples=64, max_length=16))
        jobs["tags"] = prepare_job(tags, job.model, tags.load(None), seed=0, device="cpu",
                                   cache_dir=workdir / "cache", plugins=cls.plugin_manager())
        return jobs

    @pytest.fixture(scope="class")
    @classmethod
    def group_fitted(cls, instance: Any, group_jobs: dict[str, Any]) -> dict[str, Any]:
        return dict(instance.fit_group(group_jobs))

    def test_declares_its_group(self) -> None:
        plugins = self.plugin_manager()
        entry = plugins.strategies.get(self.strategy)
        options = entry.factory.Options.model_validate(self.options, context={"plugins": plugins})
        group = entry.factory.task_group(options, ("texts", "tags"))
        assert group and set(group) <= {"texts", "tags"}

    def test_fit_group_gives_every_task_a_model(self, group_fitted: dict[str, Any],
                                                group_jobs: dict[str, Any]) -> None:
        assert set(group_fitted) == set(group_jobs)
        for label, fitted in group_fitted.items():
            job = group_jobs[label]
            outputs = fitted.predict("report")
            assert len(outputs) == len(job.data.splits["report"])
            assert 0.0 <= job.score("report", outputs)[job.task.primary_metric] <= 1.0

    def test_group_models_save_and_reload(self, group_fitted: dict[str, Any], group_jobs: dict[str, Any],
                                          tmp_path: Path) -> None:
        for label, fitted in group_fitted.items():
            fitted.save(tmp_path / label)
            again = self.new_instance().load(group_jobs[label], tmp_path / label)
            assert_same_outputs(again.predict("report"), fitted.predict("report"))

    def test_group_same_seed_same_result(self, group_fitted: dict[str, Any],
                                         group_jobs: dict[str, Any]) -> None:
        again = self.new_instance().fit_group(group_jobs)
        for label, fitted in group_fitted.items():
            assert_same_outputs(again[label].predict("report"), fitted.predict("report"))


def assert_plugin_listed(name: str, distribution: str, kind: str = "strategy") -> None:
    """An installed plugin is discovered through the ``tlbench`` entry points: ``tlbench plugins
    --json``, run as a user would in a fresh process, lists ``name`` once, from ``distribution``, ok."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tlbench", "plugins", "--json"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    rows = [r for r in json.loads(out) if r["name"] == name]
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["kind"], row["distribution"], row["status"]) == (kind, distribution, "ok"), row


def trained_module(fitted: Any) -> Any:
    """``fitted.module`` (``Fitted.module``: the trained torch module), or skip the calling test: a
    strategy whose :class:`~tlbench.Fitted` holds no single module gets only the checks that use the
    ABCs' methods (counts, save and reload, seeds, metrics)."""
    if fitted.module is None:
        pytest.skip(f"{type(fitted).__name__} exposes no Fitted.module: weight-level checks skipped")
    return fitted.module


def torch_equal(a: Any, b: Any) -> bool:
    return bool((a.detach().cpu() == b.detach().cpu()).all())


def assert_same_outputs(a: Any, b: Any) -> None:
    """Equal head outputs: one array, or one array per row for token-level heads."""
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


class TaskContract(_GivenPlugins):
    """Subclass and set ``task`` (a registered name) and ``options``; needs the task's data."""

    task: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    data_dir: ClassVar[Path | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def instance(cls) -> Any:
        entry = cls.plugin_manager().tasks.get(cls.task)
        return entry.factory(cls.task, entry.factory.Options.model_validate(cls.options))

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls, instance: Any) -> TaskData:
        return instance.load(cls.data_dir)

    def test_roles_are_present_and_disjoint(self, data: TaskData) -> None:
        assert set(data.splits) == {"train", "select", "report"}
        assert all(len(ds) > 0 for ds in data.splits.values())
        text = next(c for c in data.splits["train"].column_names if c not in ("label", "idx"))
        train, select = set(data.splits["train"][text]), set(data.splits["select"][text])
        # phrases repeat inside GLUE's train; allow a little overlap but never most of select
        assert len(select & train) < 0.5 * len(select)

    def test_perfect_predictions_score_one(self, instance: Any, data: TaskData) -> None:
        split = data.splits["report"]
        refs = np.asarray(instance.references(split))
        metrics = instance.score(refs, split)
        assert metrics[instance.primary_metric] == pytest.approx(1.0)

    def test_trivial_predictions_score_on_the_report_split(self, instance: Any, data: TaskData) -> None:
        """A declared trivial baseline (``Task.trivial_predictions``) has a method in words and one
        prediction per report row that the task's ``score`` scores without error, to finite numbers
        holding the primary metric: what the runner keeps in every record (``RunRecord.trivial``)."""
        import math

        from tlbench.record import Trivial

        declared = instance.trivial_predictions(data)
        if declared is None:
            pytest.skip(f"{type(instance).__name__} declares no trivial baseline (Task.trivial_predictions)")
        method, predictions = declared
        split = data.splits["report"]
        assert isinstance(method, str) and method.strip(), method
        assert len(predictions) == len(split)
        metrics = instance.score(predictions, split)
        assert instance.primary_metric in metrics
        assert all(math.isfinite(float(v)) for v in metrics.values()), metrics
        Trivial(method=method, metrics={k: float(v) for k, v in metrics.items()})

    def test_encode_respects_max_length(self, instance: Any, data: TaskData, tmp_path: Path) -> None:
        model = tiny_bert(tmp_path / "tiny")
        from tlbench.engine.model import load_tokenizer

        batch = data.splits["report"][:16]
        enc = instance.encode(load_tokenizer(str(model)), batch)
        assert len(enc["input_ids"]) == len(enc["labels"]) == 16
        assert max(len(x) for x in enc["input_ids"]) <= instance.options.max_length


__all__ = ["BAD", "FILLER", "GOOD", "TAGS", "TOY_LABELS", "GroupStrategyContract", "StrategyContract",
           "TaskContract", "ToyRegressionTask", "ToyTagTask", "ToyTask", "assert_plugin_listed",
           "assert_same_outputs", "build_strategy", "entity_spans", "installed_plugins", "tiny_bert",
           "torch_equal", "toy_job", "toy_regression_rows", "toy_rows", "toy_tag_rows", "trained_module",
           "trivial_score"]
