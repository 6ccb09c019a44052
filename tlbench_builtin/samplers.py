"""jiant's task samplers for multitask training (its ``UniformMultiTaskSampler``,
``ProportionalMultiTaskSampler``, ``TemperatureMultiTaskSampler``) and an annealed temperature.

``temperature`` with T: p(task) ∝ size^(1/T); T = 1 is proportional, large T tends to uniform.
``annealed`` moves the exponent from 1 (proportional) at the start to 1/T at the end, linearly in
training progress: a schedule in the spirit of Stickland & Murray (2019), who anneal from
proportional towards uniform so that small tasks get their turn late in training.
"""

from __future__ import annotations

from collections.abc import Mapping

from tlbench import hookimpl
from tlbench.samplers import Sampler, size_power


class Uniform(Sampler):
    description = "every task equally likely"

    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        return size_power(sizes, 0.0)


class Proportional(Sampler):
    description = "tasks in proportion to their training rows"

    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        return size_power(sizes, 1.0)


class Temperature(Sampler):
    description = "p ∝ rows^(1/temperature): 1 is proportional, large is uniform"

    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        return size_power(sizes, 1.0 / temperature)


class Annealed(Sampler):
    description = "exponent annealed from 1 (proportional) to 1/temperature over training"

    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        share = min(1.0, max(0.0, progress))
        return size_power(sizes, 1.0 - (1.0 - 1.0 / temperature) * share)


@hookimpl
def register_samplers(register):
    register("uniform", Uniform)
    register("proportional", Proportional)
    register("temperature", Temperature)
    register("annealed", Annealed)
