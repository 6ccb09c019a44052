"""tlbench's built-in strategies and tasks.

Each module is its own plugin, named by an entry point in the ``tlbench`` group of tlbench's
pyproject.toml, exactly as a third-party distribution would do it: a broken module takes down only
itself, and ``TLBENCH_DISABLE_PLUGINS=full_finetune`` removes one built-in like any plugin.
"""
