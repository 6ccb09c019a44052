"""Samplers are looked up in the plugin manager a suite and a run are given, never the global one:
validation through pydantic's context (``load_suite``), training through ``Job.plugins``."""

from __future__ import annotations

import itertools
import types
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests import fakes
from tlbench import hookimpl, load_suite
from tlbench.errors import ConfigError
from tlbench.plugins import Plugins, get_plugins
from tlbench.samplers import Sampler
from tlbench_builtin.multitask import MultitaskOptions, _samplers, _Stream


class FirstTask(Sampler):
    """Always the first task; counts its calls, so a test sees it was the one used."""

    description = "every batch from the first task"
    calls = 0

    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        FirstTask.calls += 1
        first = next(iter(sizes))
        return {t: float(t == first) for t in sizes}


class SamplerPlugin:
    @hookimpl
    def register_samplers(self, register):
        register("first_task", FirstTask)


SUITE = """
models = ["org/some-encoder"]
seeds = [0]
[tasks.a]
task = "fake_task"
[tasks.b]
task = "fake_task"
rows = 30
[strategies.multitask]
sampler = "first_task"
"""


@pytest.fixture
def own() -> Plugins:
    """A fresh manager (built-ins and the fakes) holding a sampler the global manager lacks."""
    plugins = Plugins(entry_points=False)
    plugins.add(fakes, "tlbench-fakes", "tlbench-fakes")
    with plugins.temporarily(SamplerPlugin(), name="tlbench-first-task"):
        yield plugins


def test_register_samplers_on_a_given_manager_is_validated_and_used_there(own, tmp_path: Path):
    assert "first_task" in own.samplers and "first_task" not in get_plugins().samplers

    # validation: the suite's plugin manager, through pydantic's validation context
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    suite = load_suite(path, own, check_data=False)
    options = next(s.options for s in suite.strategies if s.name == "multitask")
    assert options.sampler == "first_task"
    assert MultitaskOptions.model_validate({"sampler": "first_task"}, context={"plugins": own})
    with pytest.raises(ValueError, match="unknown sampler 'first_task'"):
        MultitaskOptions.model_validate({"sampler": "first_task"},
                                        context={"plugins": Plugins(entry_points=False)})

    # training: the job's plugin manager (``Job.plugins``)
    job = types.SimpleNamespace(plugins=own)
    FirstTask.calls = 0
    stream = _Stream({"a": [1, 2], "b": [3]}, {"a": 2, "b": 1}, options, seed=0, micro_batches=4,
                     samplers=_samplers(job))
    drawn = list(itertools.islice(stream, 4))
    assert FirstTask.calls == 4 and all(t == "a" for [(t, _, _)] in drawn)
    assert stream.drawn == {"a": 4, "b": 0}


def test_the_global_manager_does_not_know_a_given_managers_sampler(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    with get_plugins().temporarily(fakes, name="tlbench-fakes") as plugins, \
            pytest.raises(ConfigError, match="unknown sampler 'first_task'"):
        load_suite(path, plugins, check_data=False)


def test_a_job_without_a_plugin_manager_says_so():
    with pytest.raises(ValueError, match="plugin manager"):
        _samplers(types.SimpleNamespace(plugins=None))
