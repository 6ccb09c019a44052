"""BitFit passes tlbench's conformance kit, trains only biases and the head, and is installed."""

from __future__ import annotations

import tlbench_bitfit

from tlbench import Plugins
from tlbench.testing import StrategyContract


class TestBitFit(StrategyContract):
    """The contract every strategy passes (tlbench.testing): true trainable counts, frozen weights
    bit-identical after training, save -> reload -> same predictions, same seed -> same result,
    metrics in range. It runs on a tiny BERT built from a config and an in-memory toy task."""

    strategy = "bitfit"  # the registered name
    # The tiny encoder is random and its weight matrices stay frozen: mean pooling keeps the deciding
    # word visible to the head (a random encoder's first-token state hardly depends on the input).
    options = {"lr": 1e-2, "epochs": 3, "batch_size": 32, "pooling": "mean"}
    min_accuracy = 0.6  # chance is 0.5; these options reach about 0.75 on the report split

    def test_only_biases_and_the_head_train(self, fitted):
        module = fitted.module
        trainable = {n for n, p in module.named_parameters() if p.requires_grad}
        biases = {f"backbone.{n}" for n, _ in module.backbone.named_parameters() if n.endswith(".bias")}
        head = {f"head.{n}" for n, _ in module.head.named_parameters()}
        assert biases and head
        assert trainable == biases | head
        count = sum(p.numel() for n, p in module.named_parameters() if n in trainable)
        assert fitted.parameter_counts()[0] == count
        assert count < 0.05 * fitted.parameter_counts()[1]  # a small share of the model


def test_register_strategies_registers_bitfit_with_its_distribution():
    plugins = Plugins(entry_points=False)  # no installed plugins: only this module's hook
    plugins.add(tlbench_bitfit, "bitfit", distribution="tlbench-bitfit", version="0.1.0")
    plugins.refresh()
    entry = plugins.strategies.get("bitfit")
    assert entry.factory is tlbench_bitfit.BitFit and entry.distribution == "tlbench-bitfit"
    assert entry.factory.Options().lr == 1e-3


def test_plugin_is_installed():
    """Installed, tlbench discovers it through the ``tlbench`` entry-point group."""
    from tlbench.testing import assert_plugin_listed

    assert_plugin_listed("bitfit", "tlbench-bitfit")
