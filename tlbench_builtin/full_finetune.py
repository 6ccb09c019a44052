"""``full_finetune``: every weight of the encoder and the task head trains.

The strategy is the core's :class:`tlbench.EncoderStrategy` as is; the strategies that differ only
in which weights train or what the encoder is wrapped in (``partial_freeze``, ``peft``, and
third-party plugins) subclass that base, not this module.
"""

from __future__ import annotations

from tlbench import EncoderOptions, EncoderStrategy, hookimpl

#: the name this module exported before the base moved into the core (kept for old imports)
FullFinetuneOptions = EncoderOptions


class FullFinetune(EncoderStrategy):
    description = "all encoder weights and the head train"


@hookimpl
def register_strategies(register):
    register("full_finetune", FullFinetune)
