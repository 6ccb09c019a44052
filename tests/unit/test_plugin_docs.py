"""Meta-tests: every hook in tlbench.hookspecs is documented in docs/plugins.md and has a test.

Like datasette's tests/test_docs.py: adding a hookspec without documenting it (its exact signature
line) or without a test whose name contains the hook's name fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
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
