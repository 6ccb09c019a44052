"""Contract tests that built-in and third-party plugins subclass (like optuna's sampler test cases).

A strategy plugin's test module needs three lines::

    from tlbench.testing import StrategyContract

    class TestBitFit(StrategyContract):
        strategy = "bitfit"

Everything runs on CPU in seconds: a tiny BERT built from a config (no download) and
:class:`ToyTask`, an in-memory sentiment task a few epochs can learn.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from tlbench.interfaces import DataSource, HeadSpec, ModelRef, Task, TaskData, TaskOptions
from tlbench.plugins import get_plugins

GOOD = ["good", "great", "fine", "nice", "superb"]
BAD = ["bad", "awful", "poor", "dull", "boring"]
FILLER = ["the", "movie", "film", "was", "plot", "acting", "very", "quite", "and", "a"]


def tiny_bert(directory: Path, *, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """Write a randomly initialised tiny BERT and its WordPiece tokenizer to ``directory``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GOOD, *BAD, *FILLER,
             *[chr(c) for c in range(ord("a"), ord("z") + 1)],
             *[f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)], ".", ","]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    ids = {w: i for i, w in enumerate(vocab)}
    try:  # transformers 5 takes the vocabulary itself ...
        tokenizer = BertTokenizerFast(vocab=ids)
    except (TypeError, ValueError):
        tokenizer = None
    if tokenizer is None or tokenizer.convert_tokens_to_ids("good") != ids["good"]:
        tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"))  # ... 4.x a file
    assert tokenizer.convert_tokens_to_ids("good") == ids["good"], "tiny tokenizer lost its vocabulary"
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=64)
    BertModel(config).save_pretrained(directory)
    return directory


def toy_rows(n: int, seed: int) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    sentences, labels = [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, 4) + [rng.choice(GOOD if label else BAD)]
        rng.shuffle(words)
        sentences.append(" ".join(words))
        labels.append(label)
    return {"sentence": sentences, "label": labels}


class ToyTask(Task):
    """Binary sentiment of five-word sentences; one word decides the label. In memory."""

    primary_metric = "accuracy"
    description = "toy in-memory sentiment task for contract tests"

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", 2)

    def required_files(self, data_dir: Path) -> list[Path]:
        return []

    def load(self, data_dir: Path | None) -> TaskData:
        import datasets

        sizes = {"train": self.options.max_train_examples or 192, "select": self.options.select_examples,
                 "report": self.options.max_eval_examples or 64}
        splits = {role: datasets.Dataset.from_dict(toy_rows(n, seed=i))
                  for i, (role, n) in enumerate(sizes.items())}
        source = DataSource("memory://toy", "0")
        return TaskData(splits=splits, sources={r: source for r in splits},  # type: ignore[arg-type]
                        label_names=("negative", "positive"))

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        ids = tokenizer(batch["sentence"], truncation=True, max_length=self.options.max_length)
        return {"input_ids": ids["input_ids"], "labels": batch["label"],
                "truncated": [False] * len(batch["label"])}

    def decode(self, outputs: Any, encoded: Any, split: Any) -> np.ndarray:
        return np.asarray(outputs).argmax(-1)

    def score(self, predictions: np.ndarray, split: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(predictions == np.asarray(split["label"])))}


class StrategyContract:
    """Subclass, set ``strategy`` (a registered name) and, if needed, ``options``."""

    strategy: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    #: the toy task is learnable: a strategy that trains anything should beat chance on it
    min_accuracy: ClassVar[float] = 0.0

    @pytest.fixture(scope="class")
    @classmethod
    def workdir(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp(f"contract-{cls.strategy}")

    @pytest.fixture(scope="class")
    @classmethod
    def job(cls, workdir: Path) -> Any:
        from tlbench.runner import prepare_job

        model_dir = tiny_bert(workdir / "tiny-bert")
        task = ToyTask("toy", TaskOptions(select_examples=64, max_length=16))
        model = ModelRef("tiny-bert", str(model_dir), "test")
        return prepare_job(task, model, task.load(None), seed=0, device="cpu",
                           cache_dir=workdir / "cache")

    @pytest.fixture(scope="class")
    @classmethod
    def instance(cls) -> Any:
        entry = get_plugins().strategies.get(cls.strategy)
        return entry.factory(cls.strategy, entry.factory.Options.model_validate(cls.options))

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, instance: Any, job: Any) -> Any:
        return instance.fit(job)

    def test_options_have_defaults(self) -> None:
        entry = get_plugins().strategies.get(self.strategy)
        entry.factory.Options()  # a suite may name a strategy with an empty table

    def test_trainable_count_is_true(self, fitted: Any) -> None:
        trainable, total = fitted.parameter_counts()
        module = fitted.module
        assert trainable == sum(p.numel() for p in module.parameters() if p.requires_grad)
        assert 0 < trainable <= total

    def test_frozen_weights_stay_frozen(self, fitted: Any, job: Any) -> None:
        from transformers import AutoModel

        pretrained = AutoModel.from_pretrained(job.model.path).state_dict()
        checked = 0
        for name, p in fitted.module.named_parameters():
            base = next((k for k in pretrained if name.endswith("." + k) or name == k), None)
            if base is None:
                continue
            if not p.requires_grad:
                assert np.array_equal(p.detach().numpy(), pretrained[base].numpy()), name
                checked += 1
        trainable, total = fitted.parameter_counts()
        if trainable < total:
            assert checked or not any(True for _ in fitted.module.named_parameters()
                                      if False), "no frozen parameter could be checked"

    def test_save_reload_gives_same_predictions(self, fitted: Any, instance: Any, job: Any,
                                                tmp_path: Path) -> None:
        fitted.save(tmp_path)
        assert any(tmp_path.iterdir()), "save() wrote nothing"
        again = instance.load(job, tmp_path)
        np.testing.assert_allclose(again.predict("report"), fitted.predict("report"),
                                   rtol=1e-5, atol=1e-5)

    def test_metrics_in_range(self, fitted: Any, job: Any) -> None:
        outputs = fitted.predict("report")
        assert len(outputs) == len(job.data.splits["report"])
        metrics = job.score("report", outputs)
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert metrics["accuracy"] >= self.min_accuracy


class TaskContract:
    """Subclass and set ``task`` (a registered name) and ``options``; needs the task's data."""

    task: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    data_dir: ClassVar[Path | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def instance(cls) -> Any:
        entry = get_plugins().tasks.get(cls.task)
        return entry.factory(cls.task, entry.factory.Options.model_validate(cls.options))

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls, instance: Any) -> TaskData:
        return instance.load(cls.data_dir)

    def test_roles_are_present_and_disjoint(self, data: TaskData) -> None:
        assert set(data.splits) == {"train", "select", "report"}
        assert all(len(ds) > 0 for ds in data.splits.values())
        text = next(c for c in data.splits["train"].column_names if c not in ("label", "idx"))
        train, select = set(data.splits["train"][text]), set(data.splits["select"][text])
        # phrases repeat inside GLUE's train; allow a little overlap but never most of select
        assert len(select & train) < 0.5 * len(select)

    def test_perfect_predictions_score_one(self, instance: Any, data: TaskData) -> None:
        split = data.splits["report"]
        refs = np.asarray(instance.references(split))
        metrics = instance.score(refs, split)
        assert metrics[instance.primary_metric] == pytest.approx(1.0)

    def test_encode_respects_max_length(self, instance: Any, data: TaskData, tmp_path: Path) -> None:
        model = tiny_bert(tmp_path / "tiny")
        from tlbench.engine.model import load_tokenizer

        batch = data.splits["report"][:16]
        enc = instance.encode(load_tokenizer(str(model)), batch)
        assert len(enc["input_ids"]) == len(enc["labels"]) == 16
        assert max(len(x) for x in enc["input_ids"]) <= instance.options.max_length
