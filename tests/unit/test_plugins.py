"""Built-ins listed in code, entry points for third parties, failures per plugin, filters,
collisions, listings, providers, and hermetic tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pluggy
import pytest

import tlbench.plugins as plugins_module
from tests import fakes
from tlbench import PluginError, UnknownNameError, hookimpl
from tlbench.errors import NameCollisionError
from tlbench.plugins import BUILTIN_PLUGINS, Plugins, get_plugins
from tlbench.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


class FakeDist:
    def __init__(self, name: str, version: str = "1.0"):
        self.name, self.version = name, version


class FakeEntryPoint:
    def __init__(self, name: str, target, dist: str):
        self.name, self._target, self.dist = name, target, FakeDist(dist)
        self.loaded = False

    def load(self):
        self.loaded = True
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def with_entry_points(monkeypatch, *extra: FakeEntryPoint) -> None:
    """The ``tlbench`` entry-point group holds exactly ``extra``, whatever is installed."""
    monkeypatch.setattr("tlbench.plugins.metadata.entry_points", lambda group: list(extra))


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def status_of(p: Plugins, name: str) -> tuple[str, str]:
    [s] = [s for s in p.statuses if s.name == name]
    return s.status, s.error


BUILTIN_STRATEGIES = {"full_finetune", "linear_probe", "ridge_probe", "lp_ft", "tapt", "partial_freeze",
                      "peft", "lora", "dora", "rslora", "pissa", "vera", "oft", "multitask", "setfit"}


# -- built-ins: a tuple in code, registered like a plugin -----------------------------------------
def test_builtins_are_listed_in_code_and_registered_like_plugins():
    p = Plugins(entry_points=False)
    assert set(p.strategies.names()) == BUILTIN_STRATEGIES
    assert "sst2" in p.tasks.names() and "temperature" in p.samplers.names()
    entry = p.strategies.get("full_finetune")
    assert (entry.distribution, entry.plugin) == ("tlbench", "full_finetune")
    assert [s.name for s in p.statuses] == [m.rpartition(".")[2] for m in BUILTIN_PLUGINS]
    assert all(s.status == "ok" and s.distribution == "tlbench" for s in p.statuses)


def test_a_source_checkout_without_installation_lists_the_builtins(monkeypatch):
    """No metadata at all (an uninstalled tree on PYTHONPATH): the built-ins still load."""
    from importlib import metadata

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    with_entry_points(monkeypatch)
    monkeypatch.setattr("tlbench.plugins.metadata.version", not_installed)
    p = Plugins()
    assert BUILTIN_STRATEGIES <= set(p.strategies.names()) and "conll2003" in p.tasks


def test_stale_builtin_entry_points_of_tlbench_itself_are_ignored(monkeypatch):
    import tlbench_builtin.glue

    with_entry_points(monkeypatch, FakeEntryPoint("glue", tlbench_builtin.glue, "tlbench"))
    p = Plugins()
    assert "sst2" in p.tasks and not p.failures()


# -- failures are per plugin --------------------------------------------------------------------------
def test_two_plugins_of_one_distribution_one_raising_keeps_the_others_names():
    def explode(register):
        register("doomed_task", fakes.FakeTask)
        raise RuntimeError("register_tasks blew up")

    good = plugin(register_strategies=lambda register: register("good_strategy", fakes.FakeStrategy))
    bad = plugin(register_strategies=lambda register: register("bad_strategy", fakes.FakeStrategy),
                 register_tasks=explode)
    p = Plugins(entry_points=False)
    p.add(good, "good", "tlbench-two", "1.0")
    p.add(bad, "bad", "tlbench-two", "1.0")
    p.refresh()
    assert "good_strategy" in p.strategies and p.strategies.get("good_strategy").plugin == "good"
    assert "bad_strategy" not in p.strategies and "doomed_task" not in p.tasks
    assert status_of(p, "good") == ("ok", "")
    status, error = status_of(p, "bad")
    assert status == "failed" and "register_tasks blew up" in error
    assert [s.name for s in p.failures()] == ["bad"]


def test_one_builtin_module_whose_hook_raises_takes_down_only_itself(monkeypatch):
    import tlbench_builtin.glue

    def explode(register):
        raise RuntimeError("glue is broken")

    monkeypatch.setattr(tlbench_builtin.glue, "register_tasks", hookimpl(explode))
    p = Plugins(entry_points=False)
    assert "sst2" not in p.tasks
    assert {"imdb", "conll2003", "squad"} <= set(p.tasks.names())
    assert set(p.strategies.names()) == BUILTIN_STRATEGIES
    rows = {r["name"]: r for r in p.listing() if r["kind"] == "plugin"}
    assert list(rows) == ["glue"] and "glue is broken" in rows["glue"]["error"]
    assert all(s.status == "ok" for s in p.statuses if s.name != "glue")


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
    bad = plugin(register_strategy=lambda register: None)
    with_entry_points(monkeypatch, FakeEntryPoint("typo", bad, "tlbench-typo"))
    p = Plugins()
    [row] = [r for r in p.listing() if r["name"] == "typo"]
    assert row["status"] == "failed" and "register_strategy" in row["error"]
    with pytest.raises(pluggy.PluginValidationError):
        Plugins(entry_points=False).add(bad, "typo", "tlbench-typo")


def test_hook_that_raises_is_recorded(monkeypatch):
    def explode(register):
        raise RuntimeError("registration blew up")

    explodes = FakeEntryPoint("explodes", plugin(register_tasks=explode), "tlbench-explodes")
    with_entry_points(monkeypatch, explodes)
    p = Plugins()
    [row] = [r for r in p.listing() if r["name"] == "explodes"]
    assert row["status"] == "failed" and "registration blew up" in row["error"]
    assert "sst2" in p.tasks


class NoOptions:
    description = "a class without an Options model"


@pytest.mark.parametrize(("hooks", "error"), [
    ({"register_strategies": lambda register: register("bare", NoOptions)}, "without an Options model"),
    ({"register_strategies": lambda register: register("not a name", fakes.FakeStrategy)}, "identifier"),
    ({"register_strategies": lambda register: register("a_task", fakes.FakeTask)},
     "not a subclass of tlbench.interfaces.Strategy"),
    ({"register_tasks": lambda register: register("a_strategy", fakes.FakeStrategy)},
     "not a subclass of tlbench.interfaces.Task"),
    ({"register_samplers": lambda register: register("a_task", fakes.FakeTask)},
     "not a subclass of tlbench.samplers.Sampler"),
])
def test_a_refused_registration_fails_that_plugin_only(hooks, error):
    p = Plugins(entry_points=False)
    with p.temporarily(plugin(**hooks), name="refused"):
        status, message = status_of(p, "refused")
        assert status == "failed" and error in message and "PluginError" in message
        assert set(p.strategies.names()) == BUILTIN_STRATEGIES and "sst2" in p.tasks
    strict = Plugins(entry_points=False, strict=True)
    with pytest.raises(PluginError, match=error), strict.temporarily(plugin(**hooks), name="refused"):
        pass


def test_collision_names_both_plugins_and_distributions(monkeypatch):
    clash = plugin(register_strategies=lambda register: register("full_finetune", fakes.FakeStrategy))
    with_entry_points(monkeypatch, FakeEntryPoint("clash", clash, "tlbench-clash"))
    with pytest.raises(NameCollisionError, match="registered twice") as info:
        Plugins()
    assert "by full_finetune (tlbench) and by clash (tlbench-clash)" in str(info.value)
    assert isinstance(info.value, PluginError)  # still a user's error (exit status 2)


def test_registry_rejects_bad_registrations():
    r = Registry("task")
    with pytest.raises(PluginError, match="identifier"):
        r.add("not a name", fakes.FakeTask, "x")
    with pytest.raises(PluginError, match="without an Options model"):
        r.add("plain", object, "x")  # type: ignore[arg-type]


def test_unknown_name_suggests_and_lists():
    r = Registry("strategy")
    for name in ("lora", "full_finetune", "linear_probe"):
        r.add(name, fakes.FakeStrategy, "tlbench")
    with pytest.raises(UnknownNameError) as info:
        r.get("lroa")
    assert str(info.value) == ("Unknown strategy 'lroa'. Did you mean: lora? "
                               "Available: full_finetune, linear_probe, lora.")


# -- selecting plugins --------------------------------------------------------------------------------
FAKES = {"fake_strategy", "sleepy"}


@pytest.mark.parametrize(("var", "value", "kept", "disabled"), [
    ("TLBENCH_LOAD_PLUGINS", "tlbench-fakes", BUILTIN_STRATEGIES | FAKES, set()),
    ("TLBENCH_LOAD_PLUGINS", "", BUILTIN_STRATEGIES, {"fakes"}),  # third parties only: built-ins stay
    ("TLBENCH_DISABLE_PLUGINS", "tlbench-fakes", BUILTIN_STRATEGIES, {"fakes"}),
    ("TLBENCH_DISABLE_PLUGINS", "full_finetune", BUILTIN_STRATEGIES - {"full_finetune"} | FAKES,
     {"full_finetune"}),
    ("TLBENCH_DISABLE_PLUGINS", "Peft-Strategy", BUILTIN_STRATEGIES - {"peft", "lora"} | FAKES,
     {"peft_strategy"}),
])
def test_env_selects_plugins(monkeypatch, var, value, kept, disabled):
    with_entry_points(monkeypatch, FakeEntryPoint("fakes", fakes, "tlbench-fakes"))
    monkeypatch.setenv(var, value)
    p = Plugins()
    assert set(p.strategies.names()) == kept
    assert {r["name"] for r in p.listing() if r["status"] == "disabled"} == disabled


def test_disable_uses_pluggys_blocking_and_imports_nothing_blocked(monkeypatch):
    never = FakeEntryPoint("never", ImportError("must not be imported"), "tlbench-never")
    with_entry_points(monkeypatch, never)
    monkeypatch.setenv("TLBENCH_DISABLE_PLUGINS", "tlbench-never,glue")
    p = Plugins()
    assert p.pm.is_blocked("glue") and p.pm.is_blocked("tlbench-never")
    assert not never.loaded and status_of(p, "never") == ("disabled", "")
    assert status_of(p, "glue") == ("disabled", "") and "sst2" not in p.tasks and "imdb" in p.tasks


def test_register_tasks_adds_a_plugins_task_under_its_distribution():
    p = Plugins(entry_points=False)
    p.add(fakes, "fakes", "tlbench-fakes", "1.2")
    p.refresh()
    entry = p.tasks.get("fake_task")
    assert entry.factory is fakes.FakeTask and entry.distribution == "tlbench-fakes"
    assert (entry.version, entry.plugin) == ("1.2", "fakes")


def test_resolve_model_maps_minilm_to_the_shipped_copy_and_others_to_none(plugins):
    path = plugins.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert path is not None and (path / "config.json").is_file()
    assert plugins.resolve_model("org/some-other-model") is None


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
    assert {"name": "sst2", "kind": "task", "distribution": "tlbench", "plugin": "glue"}.items() <= next(
        r for r in rows if r["name"] == "sst2").items()
    assert all({"name", "kind", "distribution", "version", "status", "plugin"} <= set(r) for r in rows)


# -- providers: plugin metadata, not a table in the core ------------------------------------------------
FROB = plugin(register_providers=lambda register: register("strategy", "frobnicate", "tlbench-frob"))


def test_register_providers_names_the_distribution_of_a_missing_or_broken_name(monkeypatch):
    with_entry_points(monkeypatch)
    with Plugins().temporarily(FROB, name="frob-provider") as p, pytest.raises(UnknownNameError) as missing:
        p.strategies.get("frobnicate")
    assert ("Strategy 'frobnicate' is provided by the tlbench-frob distribution, which is not installed: "
            "pip install tlbench-frob") in str(missing.value)
    broken_plugin = FakeEntryPoint("frob", ImportError("no module named frob_dep"), "tlbench-frob")
    with_entry_points(monkeypatch, broken_plugin)
    with Plugins().temporarily(FROB, name="frob-provider") as p, pytest.raises(UnknownNameError) as broken:
        p.strategies.get("frobnicate")
    assert ("provided by tlbench-frob, which is installed but failed: ImportError: no module named frob_dep"
            in str(broken.value))


def test_the_builtin_providers_plugin_names_the_projects_distributions(plugins):
    with pytest.raises(UnknownNameError, match="pip install tlbench-adapterhub"):
        plugins.strategies.get("adapter")
    core = (ROOT / "tlbench" / "plugins.py").read_text(encoding="utf-8")
    assert "bitfit" not in core and "adapterhub" not in core  # the core names no plugin


def test_a_bad_provider_declaration_fails_that_plugin():
    p = Plugins(entry_points=False)
    bad = plugin(register_providers=lambda register: register("gadget", "x", "tlbench-x"))
    with p.temporarily(bad, name="bad-provider"):
        status, error = status_of(p, "bad-provider")
        assert status == "failed" and "'gadget'" in error


# -- hermetic tests ----------------------------------------------------------------------------------
def test_get_plugins_in_tests_sees_the_builtins_and_no_installed_third_party(monkeypatch):
    assert getattr(sys, "_called_from_test", False)  # set by tests/conftest.py
    third = FakeEntryPoint("fakes", fakes, "tlbench-fakes")
    with_entry_points(monkeypatch, third)
    monkeypatch.setattr(plugins_module, "_default", None)
    p = get_plugins()
    assert set(p.strategies.names()) == BUILTIN_STRATEGIES and not third.loaded
    assert "fake_strategy" in Plugins().strategies  # a test that asks gets the entry points


# -- installed third-party plugins, as a new user meets them (a subprocess, real metadata) ---------
NO_OPTIONS = '''
from tlbench import hookimpl

class Bare:
    description = "registered without an Options model"

@hookimpl
def register_strategies(register):
    register("bare", Bare)
'''

RAISES = '''
from tlbench import hookimpl

@hookimpl
def register_tasks(register):
    raise RuntimeError("this plugin's register_tasks is broken")
'''


def install_fake(site: Path, dist: str, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[tlbench]\n{module.removeprefix('tlbench_')} = {module}\n",
                                           encoding="utf-8")


def tlbench_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("TLBENCH_LOAD_PLUGINS", None)
    env.pop("TLBENCH_DISABLE_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "tlbench", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_broken_third_party_plugins_do_not_break_plugins_or_validate(tmp_path, data_dir):
    """The new user's failure (issue 15): one installed plugin registering a class without Options,
    another whose register_tasks raises. Both commands work and list them; --strict is fatal."""
    install_fake(tmp_path, "tlbench-nooptions", "tlbench_nooptions", NO_OPTIONS)
    install_fake(tmp_path, "tlbench-raises", "tlbench_raises", RAISES)

    listed = tlbench_cli(tmp_path, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["nooptions"]["status"] == "failed"
    assert "without an Options model" in rows["nooptions"]["error"]
    assert rows["raises"]["status"] == "failed" and "register_tasks is broken" in rows["raises"]["error"]
    assert rows["full_finetune"]["status"] == "ok" and "bare" not in rows
    assert tlbench_cli(tmp_path, "plugins", "--json", "--strict").returncode == 2

    valid = tlbench_cli(tmp_path, "validate", "suites/smoke.toml")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "plugin nooptions (tlbench-nooptions) failed" in valid.stderr
    assert "plugin raises (tlbench-raises) failed" in valid.stderr
    strict = tlbench_cli(tmp_path, "validate", "suites/smoke.toml", "--strict")
    assert strict.returncode == 2 and "failed to load" in strict.stderr
