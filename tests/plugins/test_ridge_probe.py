"""``ridge_probe``: the contract kit on the toy texts and tags, alpha chosen on the training rows only
(in the grid, recorded, blind to the selection and report labels), the probe's feature cache and cost
accounting, the refused span kind, and the closed-form solutions against scikit-learn."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.plugins.test_every_task import SMALL, TASKS, load
from tlbench import HeadSpec, get_plugins
from tlbench.runner import prepare_job
from tlbench.testing import StrategyContract, ToyTagTask
from tlbench_builtin.ridge_probe import DEFAULT_ALPHAS, RidgeProbe, RidgeProbeOptions, solve, write_head

torch = pytest.importorskip("torch")


class TestRidgeProbe(StrategyContract):
    strategy = "ridge_probe"
    min_accuracy = 0.65  # 1.0 (the trivial majority label: 0.53; the linear probe, 40 epochs: 0.75)

    def test_alpha_is_chosen_from_the_grid_and_recorded(self, fitted: Any) -> None:
        alpha = fitted.details["alpha"]
        assert alpha in DEFAULT_ALPHAS and fitted.details["alphas"] == list(DEFAULT_ALPHAS)
        assert isinstance(fitted.details["alpha_at_edge"], bool)
        assert fitted.details["fit_rows"] == 192

    def test_compute_is_the_probes(self, fitted: Any, job: Any) -> None:
        c = fitted.compute
        assert (c.optimizer_steps, c.epochs, c.examples_seen) == (0, 1.0, len(job.data.splits["train"]))
        assert c.tokens == sum(len(ids) for ids in job.encoded("train")["input_ids"]) and c.oneoff_seconds > 0

    def test_reads_the_linear_probes_feature_cache(self, fitted: Any, job: Any) -> None:
        from tlbench.engine.features import feature_path

        assert fitted.details["pooling"] == "mean"  # auto: the probe's mean over real tokens for encoders
        assert feature_path(job, "train", "mean", "last").is_file()  # linear_probe's default file

    def test_nothing_for_optuna_and_no_engine_budget(self) -> None:
        from tlbench import EngineOptions

        assert RidgeProbe.search_space == {}
        assert not issubclass(RidgeProbeOptions, EngineOptions)  # a [training] budget refuses it by name

    def test_alpha_never_looks_at_selection_or_report_labels(self, instance: Any, job: Any,
                                                             fitted: Any) -> None:
        rng = np.random.default_rng(0)
        shuffled = {role: rng.permutation(len(job.data.splits[role])) for role in ("select", "report")}

        def encoded(role: Any) -> Any:
            rows = job.encoded(role)
            if role == "train":
                return rows
            return {**rows, "labels": [rows["labels"][i] for i in shuffled[role]]}

        splits = {**job.data.splits}
        for role, order in shuffled.items():
            labels = [splits[role]["label"][i] for i in order]
            splits[role] = splits[role].remove_columns("label").add_column("label", labels)
        other = dataclasses.replace(job, encoded=encoded, data=dataclasses.replace(job.data, splits=splits))
        again = instance.fit(other)
        assert again.details["alpha"] == fitted.details["alpha"]
        for a, b in zip(again.module.parameters(), fitted.module.parameters(), strict=True):
            assert torch.equal(a, b)

        def train_only(role: Any) -> Any:  # and it never reads them at all
            assert role == "train", f"ridge_probe.fit read the {role} split's rows"
            return job.encoded(role)

        instance.fit(dataclasses.replace(job, encoded=train_only))

    def test_refuses_span_and_serves_the_rest(self, instance: Any) -> None:
        problem = instance.problem(HeadSpec("span", 2))
        assert problem and "span" in problem and "linear_probe" in problem
        for kind, n in (("classification", 3), ("regression", 1), ("token_classification", 5)):
            assert instance.problem(HeadSpec(kind, n)) is None  # type: ignore[arg-type]

    def test_options_are_checked(self) -> None:
        with pytest.raises(ValueError, match="alpha"):
            RidgeProbeOptions(alphas=(1.0, 0.0))
        assert RidgeProbeOptions(alphas=(10.0, 1.0, 10.0)).alphas == (1.0, 10.0)


class TestRidgeProbeTokens(StrategyContract):
    strategy = "ridge_probe"
    task_class = ToyTagTask
    min_accuracy = 0.15  # entity F1 0.42 (the trained linear probe, 60 epochs: 0.22)

    def test_fits_every_labelled_token(self, fitted: Any, job: Any) -> None:
        labelled = sum(sum(1 for y in row if y != -100) for row in job.encoded("train")["labels"])
        assert fitted.details["fit_rows"] == labelled


# -- the closed forms, against scikit-learn -----------------------------------------------------------------
def test_regression_matches_ridgecv() -> None:
    from sklearn.linear_model import RidgeCV

    from tlbench.engine import FeatureModel

    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 6)).astype(np.float32)
    y = x @ rng.normal(size=6) + 0.1 * rng.normal(size=80)
    spec = HeadSpec("regression", 1)
    solution = solve(spec, x, y, DEFAULT_ALPHAS)
    reference = RidgeCV(alphas=DEFAULT_ALPHAS).fit(x.astype(np.float64), y)
    assert solution.alpha == reference.alpha_ and solution.alpha in DEFAULT_ALPHAS
    model = FeatureModel(spec, 6)
    write_head(model, spec, solution)
    out = model.eval()(torch.as_tensor(x)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, reference.predict(x.astype(np.float64)), rtol=1e-4, atol=1e-4)


def test_binary_scores_are_symmetric_and_absent_labels_lose() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    binary = solve(HeadSpec("classification", 2), x, y, (0.1, 1.0))
    np.testing.assert_allclose(binary.weight[0], -binary.weight[1])
    y3 = np.where(x[:, 1] > 0.5, 3, y)  # labels 0, 1, 3 of 4: label 2 never seen
    four = solve(HeadSpec("classification", 4), x, y3, (0.1, 1.0))
    assert four.weight.shape == (4, 4) and not four.weight[2].any() and four.bias[2] == -1.0
    scores = x @ four.weight.T + four.bias
    assert (scores.argmax(1) == y3).mean() > 0.7 and 2 not in scores.argmax(1)


def test_one_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="two labels"):
        solve(HeadSpec("classification", 2), np.ones((4, 2)), np.zeros(4), (1.0,))


# -- every head kind of the mirror's tasks, end to end (texts, pairs, regression, tokens) ------------------
@pytest.mark.parametrize("task_name", ["mrpc", "stsb", "conll2003"])
def test_runs_on_task(task_name: str, data_dir: Path, tmp_path: Path) -> None:
    from tlbench import ModelRef
    from tlbench.testing import tiny_bert

    plugins = get_plugins()
    entry = plugins.tasks.get(task_name)
    task = entry.factory(task_name, entry.factory.Options(**{**SMALL, **TASKS[task_name]}))
    model = ModelRef("tiny-bert", str(tiny_bert(tmp_path / "tiny")), "test")
    job = prepare_job(task, model, load(task, data_dir), seed=0, device="cpu", cache_dir=tmp_path / "cache",
                      plugins=plugins)
    instance = RidgeProbe("ridge_probe", RidgeProbeOptions())
    assert instance.problem(task.head) is None
    fitted = instance.fit(job)
    metrics = job.score("report", fitted.predict("report"))
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    fitted.save(tmp_path / "saved")
    again = instance.load(job, tmp_path / "saved").predict("report")
    outputs = fitted.predict("report")
    for a, b in zip(outputs if isinstance(outputs, list) else [outputs],
                    again if isinstance(again, list) else [again], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
