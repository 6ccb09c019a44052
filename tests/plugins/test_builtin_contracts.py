"""The built-ins pass the same contract kit a third-party plugin runs (tlbench.testing).

Floors are set below what each class reaches on the report split (noted beside it) and above the
trivial predictor's score: 0.53 accuracy for the majority label on ToyTask, 0 entity F1 for all "O" on
ToyTagTask (whose word accuracy all "O" would take to 0.72). On ToyTagTask the tiny random BERT learns
B- tags well and I- tags hardly, hence entity F1 well below 1 where word accuracy is above 0.9."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tlbench.testing import StrategyContract, TaskContract, ToyRegressionTask, ToyTagTask


class TestFullFinetune(StrategyContract):
    strategy = "full_finetune"
    options = {"lr": 1e-3, "epochs": 6, "batch_size": 16}
    min_accuracy = 0.8  # 0.95: the toy task's deciding word is easy for a model that trains fully

    def test_every_weight_trains(self, fitted):
        trainable, total = fitted.parameter_counts()
        assert trainable == total


class TestLinearProbe(StrategyContract):
    strategy = "linear_probe"
    options = {"epochs": 40}
    min_accuracy = 0.65  # 0.75

    def test_only_the_head_trains(self, fitted):
        trainable, total = fitted.parameter_counts()
        assert trainable == 32 * 2 + 2  # hidden 32 -> 2 labels
        assert total > 10 * trainable

    def test_features_are_cached_and_reused(self, instance, job, fitted, monkeypatch):
        for role in ("train", "select", "report"):
            fitted.predict(role)
        files = sorted((Path(job.cache_dir) / "features").glob("*.npz"))
        assert len(files) == 3  # train, select, report
        stamps = [f.stat().st_mtime_ns for f in files]

        def no_encoder(*_):
            raise AssertionError("a fit on cached features loaded the encoder")

        monkeypatch.setattr("tlbench.engine.load_backbone", no_encoder)
        again = instance.fit(job)  # a second seed or trial
        assert [f.stat().st_mtime_ns for f in files] == stamps
        # features it did not compute still count as inference cost, once
        assert again.cached_seconds("report") > 0 and fitted.cached_seconds("train") == 0
        assert again.predict("report").shape == (64, 2)

    def test_total_parameters_match_the_loaded_encoder(self, job, fitted):
        from tlbench.engine import count_parameters, load_backbone

        trainable, total = fitted.parameter_counts()
        assert total - trainable == count_parameters(load_backbone(job.model))[1]


class TestSst2(TaskContract):
    task = "sst2"
    options = {"max_train_examples": 300, "select_examples": 100}
    data_dir = Path(os.environ["TLBENCH_DATA_DIR"]) if os.environ.get("TLBENCH_DATA_DIR") else None

    def test_split_roles_follow_glue(self, data):
        assert len(data.splits["report"]) == 872  # the official validation split
        assert len(data.splits["select"]) == 100 and len(data.splits["train"]) == 300
        assert data.sources["report"].location.endswith("validation.jsonl.gz")
        assert data.sources["select"].location.endswith("train.jsonl.gz")
        assert len(data.sources["train"].sha256) == 64

    def test_carving_is_fixed_across_loads(self, instance, data):
        assert instance.load(self.data_dir).splits["select"]["idx"] == data.splits["select"]["idx"]

    def test_macro_metrics(self, instance, data):
        split = data.splits["report"]
        zeros = np.zeros(len(split), dtype=int)
        m = instance.score(zeros, split)
        assert abs(m["macro_recall"] - 0.5) < 1e-9  # a constant guess recalls one class fully
        assert 0.49 < m["accuracy"] < 0.51  # the majority class scores 0.509


# -- the frozen-feature ladder and the other heads --------------------------------------------------
class TestProbeMlpLast4(StrategyContract):
    strategy = "linear_probe"
    # mean pooling: on the random tiny BERT a head on the CLS states stays at the majority label
    options = {"head": "mlp", "layers": "last4", "pooling": "mean", "epochs": 40}
    model_layers = 4
    min_accuracy = 0.85  # 0.97

    def test_mlp_on_four_layers(self, fitted):
        trainable, _ = fitted.parameter_counts()
        width = 4 * 32  # the last four layers' states, concatenated
        assert trainable == width * width + width + width * 2 + 2


class TestProbeKnn(StrategyContract):
    strategy = "linear_probe"
    options = {"head": "knn", "k": 5}
    min_accuracy = 0.7  # 0.80

    def test_nothing_trains_and_the_memory_is_stored(self, fitted, job, tmp_path):
        from safetensors.torch import load_file

        assert fitted.parameter_counts()[0] == 0
        fitted.save(tmp_path)
        state = load_file(str(next(tmp_path.glob("*.safetensors"))))
        assert state["memory"].shape == (len(job.data.splits["train"]), 32)


class TestProbeTokens(StrategyContract):
    strategy = "linear_probe"
    options = {"epochs": 60, "lr": 1e-2}
    task_class = ToyTagTask
    min_accuracy = 0.15  # entity F1 0.22


class TestProbeRegression(StrategyContract):
    """The regression head (issue 19's grid runs it on every family): Pearson's r above the
    trivial baseline's 0 (the training mean for every row)."""

    strategy = "linear_probe"
    options = {"epochs": 60, "lr": 1e-2}
    task_class = ToyRegressionTask
    min_accuracy = 0.45  # Pearson 0.60


class TestFullFinetuneRegression(StrategyContract):
    strategy = "full_finetune"
    options = {"lr": 1e-3, "epochs": 6, "batch_size": 16}
    task_class = ToyRegressionTask
    min_accuracy = 0.65  # Pearson 0.84


class TestProbeCrf(StrategyContract):
    strategy = "linear_probe"
    options = {"head": "crf", "epochs": 60, "lr": 1e-2}
    task_class = ToyTagTask
    min_accuracy = 0.15  # entity F1 0.23


class TestProbeKnnTokens(StrategyContract):
    strategy = "linear_probe"
    options = {"head": "knn"}
    task_class = ToyTagTask
    min_accuracy = 0.25  # entity F1 0.37


class TestFullFinetuneTokens(StrategyContract):
    strategy = "full_finetune"
    options = {"lr": 3e-3, "epochs": 12, "batch_size": 16}
    task_class = ToyTagTask
    min_accuracy = 0.35  # entity F1 0.48 (word accuracy 0.92)


class TestFullFinetuneCrf(StrategyContract):
    strategy = "full_finetune"
    options = {"lr": 1e-3, "epochs": 6, "batch_size": 16, "head": "crf"}
    task_class = ToyTagTask
    min_accuracy = 0.25  # entity F1 0.37

    def test_crf_transitions_train_and_are_stored(self, fitted, tmp_path):
        from safetensors.torch import load_file

        fitted.save(tmp_path)
        state = load_file(str(next(tmp_path.glob("*.safetensors"))))
        assert state["head.crf.transitions"].shape == (5, 5)
        assert state["head.crf.transitions"].abs().sum() > 0


class TestPartialFreeze(StrategyContract):
    strategy = "partial_freeze"
    options = {"lr": 3e-3, "epochs": 10, "batch_size": 16, "frozen_layers": 1}
    # the tiny model's embeddings are random and stay frozen: the one trained layer learns the
    # deciding word more slowly than full fine-tuning does
    min_accuracy = 0.65  # 0.73

    def test_embeddings_and_bottom_layers_are_frozen(self, fitted):
        module = fitted.module
        trainable = {n for n, p in module.named_parameters() if p.requires_grad}
        assert not any(".embeddings." in n or ".layer.0." in n for n in trainable)
        assert any(".layer.1." in n for n in trainable) and any(n.startswith("head.") for n in trainable)
        embeddings = sum(p.numel() for p in module.backbone.embeddings.parameters())
        layer = sum(p.numel() for p in module.backbone.encoder.layer[0].parameters())
        assert fitted.parameter_counts()[1] - fitted.parameter_counts()[0] == embeddings + layer
