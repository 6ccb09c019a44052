"""The runner's pieces that need no training: the key of a task's cached tokenization."""

from __future__ import annotations


def test_tokenization_cache_key_follows_the_task_code(tmp_path, monkeypatch):
    """Editing a task's module (say, its encode) changes the key of its cached tokenization."""
    import importlib
    import sys

    from tlbench.runner import code_fingerprint

    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "my_task_module.py"
    fingerprints = []
    for body in ("return 1", "return 2"):
        module.write_text(f"class MyTask:\n    def encode(self):\n        {body}\n")
        sys.modules.pop("my_task_module", None)
        code_fingerprint.cache_clear()
        fingerprints.append(code_fingerprint(importlib.import_module("my_task_module").MyTask))
    assert fingerprints[0] != fingerprints[1]
    sys.modules.pop("my_task_module", None)
