"""Meta-tests: every hook in tlbench.hookspecs is documented in docs/plugins.md and has a test, and
the plugins in plugins/ and the docs' examples use only the public API (``tlbench``'s ``__all__``
and ``tlbench.testing``).

Like datasette's tests/test_docs.py: adding a hookspec without documenting it (its exact signature
line) or without a test whose name contains the hook's name fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tlbench import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"

#: hooks that have no test named after them yet: listed here, not faked. strict xfail: once a test
#: named after the hook exists, the xfail passes unexpectedly and the name must leave this set.
UNTESTED: dict[str, str] = {}


def hook_names() -> list[str]:
    """Functions of tlbench.hookspecs carrying pluggy's hookspec marker (``tlbench_spec``)."""
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
                  if hasattr(fn, marker))


class _Source(str):
    """An annotation kept as its source text (``from __future__ import annotations`` makes every
    annotation a string, which ``inspect`` would print quoted)."""

    def __repr__(self) -> str:
        return str(self)


def _annotation(value: object) -> object:
    if value is inspect.Signature.empty:
        return value
    return _Source(value if isinstance(value, str) else inspect.formatannotation(value))


def signature_line(name: str) -> str:
    """The hook's ``def`` line as written in hookspecs.py, e.g.
    ``def register_strategies(register: Register) -> None:``."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = [p.replace(annotation=_annotation(p.annotation)) for p in sig.parameters.values()]
    sig = sig.replace(parameters=params, return_annotation=_annotation(sig.return_annotation))
    return f"def {name}{sig}:"


def test_hookspecs_are_found():
    assert {"register_strategies", "register_tasks", "resolve_model"} <= set(hook_names())


@pytest.mark.parametrize("hook", hook_names())
def test_signature_line_matches_the_spec_source(hook):
    """The line the docs must contain is the one hookspecs.py has (whitespace aside)."""
    source = " ".join(inspect.getsource(hookspecs).split())
    assert " ".join(signature_line(hook).split()) in source


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented_with_its_exact_signature(hook):
    line = signature_line(hook)
    assert line in DOCS.read_text(encoding="utf-8").splitlines(), (
        f"docs/plugins.md lacks the line {line!r}: add a section for the hook {hook} with its "
        f"specification copied from tlbench/hookspecs.py")


def _test_files() -> list[Path]:
    files = [*(ROOT / "tests").rglob("test_*.py"), *(ROOT / "plugins").rglob("test_*.py")]
    return sorted(f for f in files if not {".venv", "site-packages", "build"} & set(f.parts))


def _test_functions() -> dict[str, list[str]]:
    """Test function names (``def test_...``) -> the files defining them."""
    found: dict[str, list[str]] = {}
    for f in _test_files():
        for name in re.findall(r"^\s*(?:async\s+)?def\s+(test_\w+)\s*\(", f.read_text(encoding="utf-8"),
                               re.M):
            found.setdefault(name, []).append(str(f.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("hook", [
    pytest.param(h, marks=pytest.mark.xfail(reason=UNTESTED[h], strict=True)) if h in UNTESTED else h
    for h in hook_names()
])
def test_hook_has_a_named_test(hook):
    named = [name for name in _test_functions() if hook in name]
    assert named, f"no test function in tests/ or plugins/ has {hook!r} in its name"


@pytest.mark.parametrize("lang", ["python", "toml"])
def test_code_samples_parse(lang):
    """Every python and toml block of docs/plugins.md is syntactically valid."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.M | re.S)
    assert blocks
    for block in blocks:
        ast.parse(block) if lang == "python" else tomllib.loads(block)


# -- the public API: plugins and docs import only `tlbench` (its __all__) and `tlbench.testing` ---------
PUBLIC_MODULES = ("tlbench", "tlbench.testing")
#: code that must keep to the public API: the plugins in plugins/ (sources and tests) and this page
PLUGIN_DIRS = (ROOT / "plugins" / "tlbench-bitfit", ROOT / "plugins" / "tlbench-adapterhub")


def private_imports(source: str) -> list[str]:
    """Imports of a non-public tlbench module (or a built-in plugin) in ``source``, and names taken
    from ``tlbench`` (``from tlbench import x`` or ``tlbench.x``) that are not in ``tlbench.__all__``."""
    import tlbench

    public = set(tlbench.__all__)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name not in PUBLIC_MODULES
                      and a.name.split(".")[0] in ("tlbench", "tlbench_builtin")]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top = node.module.split(".")[0]
            if top == "tlbench_builtin" or (top == "tlbench" and node.module not in PUBLIC_MODULES):
                found.append(f"from {node.module} import ...")
            elif node.module == "tlbench":
                found += [f"from tlbench import {a.name}" for a in node.names if a.name not in public]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "tlbench" and node.attr not in public | {"testing"}):
            found.append(f"tlbench.{node.attr}")
    return found


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.M | re.S)


def _plugin_files() -> list[Path]:
    files = [f for d in PLUGIN_DIRS for f in d.rglob("*.py")]
    return sorted(f for f in files if not {".venv", "site-packages", "build"} & set(f.parts))


def test_public_import_check_finds_private_imports():
    """The checker itself: each kind of private use is caught, public ones are not."""
    source = textwrap.dedent("""
        import tlbench
        import tlbench.testing
        import tlbench.engine
        from tlbench import EncoderStrategy, hookimpl
        from tlbench import suggest
        from tlbench.testing import StrategyContract
        from tlbench.space import Float
        from tlbench_builtin.full_finetune import FullFinetune
        tlbench.hookimpl
        tlbench.interfaces
    """)
    assert private_imports(source) == [
        "import tlbench.engine", "from tlbench import suggest", "from tlbench.space import ...",
        "from tlbench_builtin.full_finetune import ...", "tlbench.interfaces"]


def test_public_names_exist_without_torch():
    """Every name in tlbench.__all__ resolves (the engine's ones on first access); importing tlbench
    alone does not import torch."""
    code = ("import sys, tlbench; assert 'torch' not in sys.modules, 'import tlbench imported torch'; "
            "missing = [n for n in tlbench.__all__ if not hasattr(tlbench, n)]; assert not missing, missing")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_docs_examples_import_only_public_names():
    blocks = _python_blocks()
    assert blocks
    bad = {i: found for i, block in enumerate(blocks) if (found := private_imports(block))}
    assert not bad, f"docs/plugins.md python blocks (by index) use private tlbench names: {bad}"


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_public_names(path):
    found = private_imports(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)} uses private tlbench names: {found}"


def test_plugins_are_checked():
    names = {f.name for f in _plugin_files()}
    assert {"__init__.py", "test_bitfit.py", "test_adapterhub.py"} <= names
