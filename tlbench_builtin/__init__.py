"""tlbench's built-in strategies, tasks, samplers and model resolver.

Each module is its own plugin, listed in ``tlbench.plugins.BUILTIN_PLUGINS`` (as pytest lists its
``default_plugins``) and registered through the same ``Plugins.add`` as a third-party plugin named
by an entry point: a source checkout lists them without being installed, a broken module takes down
only itself (its own names), and ``TLBENCH_DISABLE_PLUGINS=full_finetune`` blocks one built-in like
any plugin.
"""
