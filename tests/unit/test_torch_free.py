"""tests/unit stays what docs/DESIGN.md says it is: hermetic and torch-free. Tests that need torch,
transformers, the engine or the runner (which loads a tokenizer for every job) live in tests/plugins or
tests/integration. A static check (every import statement of every file, at module level or inside a
test) and a live one (importing every unit test module loads neither torch nor transformers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
ROOT = UNIT.parents[1]
#: modules a unit test may not import, nor anything under them
FORBIDDEN = ("torch", "transformers", "peft", "safetensors", "tlbench.engine", "tlbench.runner")
FILES = sorted(UNIT.glob("*.py"))


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in ``tree``; ``from a import b`` counts as ``a`` and ``a.b``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_no_unit_test_imports_torch_or_the_runner(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [f"{path.name}:{line} imports {module}" for line, module in imported_modules(tree)
           if forbidden(module)]
    assert not bad, ("tests/unit is torch-free (docs/DESIGN.md): move these tests to tests/integration "
                     "or tests/plugins:\n" + "\n".join(bad))


def test_the_static_check_sees_imports_inside_tests():
    code = ("import numpy\nfrom tlbench import grid\n\ndef test_x():\n    from tlbench.runner import Runner\n"
            "    import torch.nn\n    __import__('transformers')\n")
    assert [m for _, m in imported_modules(ast.parse(code)) if forbidden(m)] == [
        "tlbench.runner", "tlbench.runner.Runner", "torch.nn", "transformers"]
    assert not forbidden("torchvision_free") and not forbidden("tlbench.engineering")


def test_importing_every_unit_test_module_loads_no_torch():
    """What the modules import in turn (a tlbench module that imports torch at its top) counts too."""
    names = [f"tests.unit.{f.stem}" for f in FILES if f.stem != "__init__"]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception:\n"  # a module that fails to import fails its own collection
            "        continue\n"
            "    loaded = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
            "    assert not loaded, f'importing {name} loaded {loaded}'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
