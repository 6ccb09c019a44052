"""Discovery through entry points, failures as data, filters, collisions and listings."""

from __future__ import annotations

import json
import types

import pluggy
import pytest

from tests import fakes
from tlbench import PluginError, UnknownNameError, hookimpl
from tlbench.plugins import Plugins
from tlbench.registry import Registry


class FakeDist:
    def __init__(self, name: str, version: str = "1.0"):
        self.name, self.version = name, version


class FakeEntryPoint:
    def __init__(self, name: str, target, dist: str):  # noqa: ANN001
        self.name, self._target, self.dist = name, target, FakeDist(dist)

    def load(self):  # noqa: ANN201
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def with_entry_points(monkeypatch, *extra: FakeEntryPoint) -> None:  # noqa: ANN001
    from importlib import metadata

    real = list(metadata.entry_points(group="tlbench"))
    monkeypatch.setattr("tlbench.plugins.metadata.entry_points", lambda group: [*real, *extra])


def test_builtins_come_through_entry_points():
    p = Plugins()
    assert {"full_finetune", "linear_probe"} <= set(p.strategies.names())
    assert "sst2" in p.tasks.names()
    assert p.strategies.get("full_finetune").distribution == "tlbench"


def test_broken_plugin_is_recorded_and_others_work(monkeypatch):
    broken = FakeEntryPoint("broken", ImportError("no module named foo"), "tlbench-broken")
    with_entry_points(monkeypatch, broken)
    p = Plugins()
    assert "full_finetune" in p.strategies
    [row] = [r for r in p.listing() if r["name"] == "broken"]
    assert row["status"] == "failed" and "no module named foo" in row["error"]
    assert row["distribution"] == "tlbench-broken"


def test_strict_makes_a_broken_plugin_fatal(monkeypatch):
    with_entry_points(monkeypatch, FakeEntryPoint("broken", ImportError("boom"), "tlbench-broken"))
    with pytest.raises(PluginError, match="broken .*boom"):
        Plugins(strict=True)


def test_misspelt_hook_is_caught(monkeypatch):
    bad = types.SimpleNamespace(register_strategy=hookimpl(lambda register: None))
    with_entry_points(monkeypatch, FakeEntryPoint("typo", bad, "tlbench-typo"))
    p = Plugins()
    [row] = [r for r in p.listing() if r["name"] == "typo"]
    assert row["status"] == "failed" and "register_strategy" in row["error"]
    with pytest.raises(pluggy.PluginValidationError):
        Plugins(entry_points=False).add(bad, "typo", "tlbench-typo")


def test_hook_that_raises_is_recorded(monkeypatch):
    def explode(register):  # noqa: ANN001, ANN202
        raise RuntimeError("registration blew up")

    plugin = types.SimpleNamespace(register_tasks=hookimpl(explode))
    with_entry_points(monkeypatch, FakeEntryPoint("explodes", plugin, "tlbench-explodes"))
    p = Plugins()
    [row] = [r for r in p.listing() if r["name"] == "explodes"]
    assert row["status"] == "failed" and "registration blew up" in row["error"]
    assert "sst2" in p.tasks


BUILTIN_STRATEGIES = {"full_finetune", "linear_probe", "partial_freeze", "peft", "lora", "multitask"}


@pytest.mark.parametrize(("var", "value", "kept"), [
    ("TLBENCH_LOAD_PLUGINS", "tlbench-fakes", {"fake_strategy", "sleepy"}),
    ("TLBENCH_DISABLE_PLUGINS", "tlbench-fakes", BUILTIN_STRATEGIES),
    ("TLBENCH_DISABLE_PLUGINS", "full_finetune",
     BUILTIN_STRATEGIES - {"full_finetune"} | {"fake_strategy", "sleepy"}),
])
def test_env_selects_distributions(monkeypatch, var, value, kept):
    with_entry_points(monkeypatch, FakeEntryPoint("fakes", fakes, "tlbench-fakes"))
    monkeypatch.setenv(var, value)
    p = Plugins()
    # strategies of other installed distributions (a third-party plugin in this environment) aside
    ours = {e.name for e in p.strategies if e.distribution in ("tlbench", "tlbench-fakes")}
    assert ours == kept
    assert any(r["status"] == "disabled" for r in p.listing())


def test_register_tasks_adds_a_plugins_task_under_its_distribution():
    p = Plugins(entry_points=False)
    p.add(fakes, "fakes", "tlbench-fakes", "1.2")
    p.refresh()
    entry = p.tasks.get("fake_task")
    assert entry.factory is fakes.FakeTask and entry.distribution == "tlbench-fakes"
    assert entry.version == "1.2"


def test_resolve_model_maps_minilm_to_the_shipped_copy_and_others_to_none():
    p = Plugins()
    path = p.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert path is not None and (path / "config.json").is_file()
    assert p.resolve_model("org/some-other-model") is None


def test_collision_names_both_distributions(monkeypatch):
    clash = types.SimpleNamespace(register_strategies=hookimpl(
        lambda register: register("full_finetune", fakes.FakeStrategy)))
    with_entry_points(monkeypatch, FakeEntryPoint("clash", clash, "tlbench-clash"))
    with pytest.raises(PluginError, match="registered twice") as info:
        Plugins()
    assert "by tlbench-clash" in str(info.value) and "by tlbench." in str(info.value)


def test_unknown_name_suggests_and_lists():
    r = Registry("strategy")
    for name in ("lora", "full_finetune", "linear_probe"):
        r.add(name, fakes.FakeStrategy, "tlbench")
    with pytest.raises(UnknownNameError) as info:
        r.get("lroa")
    assert str(info.value) == ("Unknown strategy 'lroa'. Did you mean: lora? "
                               "Available: full_finetune, linear_probe, lora.")


def test_registry_rejects_bad_registrations():
    r = Registry("task")
    with pytest.raises(PluginError, match="identifier"):
        r.add("not a name", fakes.FakeTask, "x")
    with pytest.raises(PluginError, match="without an Options model"):
        r.add("plain", object, "x")  # type: ignore[arg-type]


def test_temporary_plugin_is_always_unregistered(plugins):
    with pytest.raises(RuntimeError), plugins.temporarily(fakes, name="tlbench-fakes"):
        assert "fake_task" in plugins.tasks
        raise RuntimeError("test body failed")
    assert "fake_task" not in plugins.tasks
    assert not any(s.name == "tlbench-fakes" for s in plugins.statuses)


def test_cli_lists_plugins_as_json():
    from typer.testing import CliRunner

    from tlbench.cli import app

    out = CliRunner().invoke(app, ["plugins", "--json"])
    assert out.exit_code == 0
    rows = json.loads(out.stdout)
    assert {"name": "sst2", "kind": "task", "distribution": "tlbench"}.items() <= next(
        r for r in rows if r["name"] == "sst2").items()
    assert all({"name", "kind", "distribution", "version", "status"} <= set(r) for r in rows)


def test_a_known_plugin_that_is_missing_or_disabled_names_its_distribution(monkeypatch):
    import tlbench.plugins as plugins_module

    monkeypatch.setitem(plugins_module.KNOWN_PROVIDERS, ("strategy", "frobnicate"), "tlbench-frob")
    with pytest.raises(UnknownNameError) as missing:
        Plugins().strategies.get("frobnicate")
    assert ("Strategy 'frobnicate' is provided by the tlbench-frob distribution, which is not installed: "
            "pip install tlbench-frob") in str(missing.value)
    broken_plugin = FakeEntryPoint("frob", ImportError("no module named frob_dep"), "tlbench-frob")
    with_entry_points(monkeypatch, broken_plugin)
    with pytest.raises(UnknownNameError) as broken:
        Plugins().strategies.get("frobnicate")
    assert ("provided by tlbench-frob, which is installed but failed: ImportError: no module named frob_dep"
            in str(broken.value))
