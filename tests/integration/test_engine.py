"""The shared engine's pieces with known answers: the CRF's decoding, gradient accumulation, early
stopping, the kNN head and the head/task compatibility check. Small tensors, CPU, seconds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from tlbench.engine.crf import CrfHead, pack
from tlbench.engine.heads import IGNORE, FeatureModel
from tlbench.engine.knn import KnnModel
from tlbench.engine.options import EngineOptions, head_problem
from tlbench.engine.training import train
from tlbench.interfaces import HeadSpec


def brute_force_path(crf: nn.Module, emissions: torch.Tensor) -> list[int]:
    """The highest-scoring tag sequence by enumerating all of them (the definition of Viterbi)."""
    n, tags = emissions.shape
    best, best_score = None, -float("inf")
    for path in itertools.product(range(tags), repeat=n):
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[i, t] for i, t in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
        if score > best_score:
            best, best_score = list(path), float(score.detach())
    return best


def test_crf_decodes_the_best_path_over_labelled_positions_only():
    torch.manual_seed(0)
    head = CrfHead(width=6, num_labels=3, dropout=0.0).eval()
    with torch.no_grad():
        for p in head.crf.parameters():
            p.normal_(0, 2.0)  # strong transitions, so the path differs from per-token arg-max
    hidden = torch.randn(2, 7, 6)
    mask = torch.tensor([[0, 1, 1, 0, 1, 1, 0], [0, 1, 0, 1, 0, 0, 0]], dtype=torch.bool)  # first sub-tokens
    scores = head(hidden, mask)
    emissions = head.emit(hidden)
    for row in range(2):
        positions = mask[row].nonzero().flatten()
        expected = brute_force_path(head.crf, emissions[row, positions])
        assert scores[row, positions].argmax(-1).tolist() == expected
        others = (~mask[row]).nonzero().flatten()
        torch.testing.assert_close(scores[row, others], emissions[row, others])  # untouched


def test_pack_moves_masked_positions_to_the_front_in_order():
    mask = torch.tensor([[False, True, False, True], [True, False, False, False]])
    order, packed = pack(mask)
    assert order[0, :2].tolist() == [1, 3] and order[1, 0].tolist() == 0
    assert packed.tolist() == [[True, True, False, False], [True, False, False, False]]


def test_crf_loss_is_the_negative_log_likelihood_per_labelled_token():
    torch.manual_seed(0)
    head = CrfHead(width=4, num_labels=3, dropout=0.0)
    hidden = torch.randn(1, 5, 4)
    labels = torch.tensor([[IGNORE, 2, IGNORE, 0, IGNORE]])
    emissions = head(hidden, None)
    loss = head.loss(emissions, {"labels": labels, "token_mask": labels != IGNORE})
    em = emissions[0, [1, 3]]
    crf = head.crf
    paths = list(itertools.product(range(3), repeat=2))

    def score(path: tuple[int, ...]) -> torch.Tensor:
        return (crf.start_transitions[path[0]] + em[0, path[0]] + crf.transitions[path[0], path[1]]
                + em[1, path[1]] + crf.end_transitions[path[1]])

    log_z = torch.logsumexp(torch.stack([score(p) for p in paths]), 0)
    torch.testing.assert_close(loss, (log_z - score((2, 0))) / 2)


def _rows(n: int = 64, width: int = 8, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return [{"features": x[i], "labels": int(y[i])} for i in range(n)]


def _train(options: EngineOptions, **kwargs: object) -> nn.Module:
    from tlbench.engine.batching import Collator

    torch.manual_seed(0)
    model = FeatureModel(HeadSpec("classification", 2), 8, dropout=0.0)
    train(model, _rows(), Collator(), model.loss, options, seed=0, device="cpu", **kwargs)
    return model


def test_gradient_accumulation_matches_one_big_batch():
    common = {"lr": 0.1, "epochs": 1, "batch_size": 32, "length_grouping": False, "warmup_ratio": 0.0,
              "evals_per_epoch": 0, "grad_clip": 1e9}
    one = _train(EngineOptions(**common))
    accumulated = _train(EngineOptions(**common, grad_accum_steps=4))
    for a, b in zip(one.parameters(), accumulated.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of grad_accum_steps"):
        EngineOptions(batch_size=30, grad_accum_steps=4)


def test_early_stopping_stops_and_restores_the_best_weights():
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0])
    snapshots: list[list[torch.Tensor]] = []
    model_ref: list[nn.Module] = []

    def evaluate() -> float:
        snapshots.append([p.detach().clone() for p in model_ref[0].parameters()])
        return next(scores)

    from tlbench.engine.batching import Collator

    torch.manual_seed(0)
    model = FeatureModel(HeadSpec("classification", 2), 8, dropout=0.0)
    model_ref.append(model)
    options = EngineOptions(lr=0.1, epochs=8, batch_size=16, evals_per_epoch=1, early_stopping_patience=2)
    curve = train(model, _rows(), Collator(), model.loss, options, seed=0, device="cpu", evaluate=evaluate)
    assert [v for _, v in curve] == [0.5, 0.9, 0.4, 0.3]  # two evaluations without a new best: stop
    for restored, best in zip(model.parameters(), snapshots[1], strict=True):
        torch.testing.assert_close(restored, best)
    with pytest.raises(ValueError, match="needs evaluations"):
        EngineOptions(early_stopping_patience=2, evals_per_epoch=0)


def test_knn_votes_by_cosine_similarity():
    model = KnnModel(HeadSpec("classification", 2), width=2, k=3)
    model.remember([{"features": [1.0, 0.0], "labels": 0}, {"features": [0.9, 0.1], "labels": 0},
                    {"features": [0.0, 1.0], "labels": 1}, {"features": [0.1, 0.9], "labels": 1},
                    {"features": [-1.0, 0.0], "labels": 1}])
    out = model(torch.tensor([[2.0, 0.1], [0.1, 3.0]]))
    assert out.argmax(-1).tolist() == [0, 1]
    torch.testing.assert_close(out.sum(-1), torch.ones(2))
    regression = KnnModel(HeadSpec("regression", 1), width=2, k=1)
    regression.remember([{"features": [1.0, 0.0], "labels": 4.0}, {"features": [0.0, 1.0], "labels": 1.5}])
    assert regression(torch.tensor([[0.0, 5.0]])).item() == pytest.approx(1.5)


def test_heads_name_the_task_kinds_they_cannot_serve():
    assert head_problem(HeadSpec("token_classification", 9), "crf") is None
    assert "token sequences" in head_problem(HeadSpec("classification", 2), "crf")
    assert "'span'" in head_problem(HeadSpec("span", 2), "knn")
    assert head_problem(HeadSpec("span", 2), "mlp") is None


def test_a_non_finite_loss_fails_the_run_at_once():
    from tlbench.engine.batching import Collator

    model = FeatureModel(HeadSpec("classification", 2), 8, dropout=0.0)
    rows = _rows()
    rows[3]["features"] = rows[3]["features"] * np.float32("nan")
    with pytest.raises(FloatingPointError, match="non-finite training loss .* at step 0"):
        train(model, rows, Collator(), model.loss, EngineOptions(batch_size=64, length_grouping=False),
              seed=0, device="cpu")


def test_new_heads_start_like_berts():
    from tlbench.engine.heads import INIT_STD, build_head

    torch.manual_seed(0)
    head = build_head(HeadSpec("classification", 2), 384, head="mlp")
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2
    for layer in linears:
        assert abs(float(layer.weight.std()) - INIT_STD) < 0.002 and not layer.bias.any()
