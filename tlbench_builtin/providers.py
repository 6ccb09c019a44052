"""``providers``: what the tlbench project's other distributions provide, so that a suite naming one
of their names without them installed says what to install (``register_providers``)."""

from __future__ import annotations

from tlbench.hookspecs import RegisterProvider, hookimpl

#: distribution -> the strategies it registers (each lives in tlbench's repository under plugins/)
DISTRIBUTIONS = {"tlbench-bitfit": ("bitfit",), "tlbench-adapterhub": ("adapter",)}


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    for dist, names in DISTRIBUTIONS.items():
        for name in names:
            register("strategy", name, dist,
                     f"pip install {dist} (from tlbench's repository: pip install plugins/{dist})")
