"""Calibration (``tlbench.calibration``): known answers for ECE, Brier and NLL, temperature scaling that
never changes accuracy, the record's ``Calibration`` and the leaderboard's calibration table. Torch-free;
the runner's part is tests/integration/test_calibration_runner.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.records import record
from tlbench import calibration as cal
from tlbench.analysis import analyse
from tlbench.record import Calibration, load_record
from tlbench.report import leaderboard


def binary(confidence: float, predicted: int = 0) -> list[float]:
    return [confidence, 1 - confidence] if predicted == 0 else [1 - confidence, confidence]


def test_always_0_9_and_right_half_the_time_gives_ece_0_4():
    probabilities = np.array([[0.9, 0.1]] * 10)
    labels = np.array([0, 1] * 5)
    assert cal.ece(probabilities, labels) == pytest.approx(0.4, abs=1e-12)
    # every item sits in the one bin (13/15, 14/15]: accuracy 0.5, confidence 0.9
    bins = cal.reliability(probabilities, labels)
    assert len(bins) == cal.N_BINS == 15
    assert bins[13] == (10, 0.5, pytest.approx(0.9)) and sum(b[0] for b in bins) == 10
    assert all(b == (0, None, None) for i, b in enumerate(bins) if i != 13)


def test_a_constructed_perfectly_calibrated_input_gives_exactly_0():
    # per bin, the accuracy equals the confidence: 0.75 right 3 of 4, 0.5 right 1 of 2, 1.0 always right
    rows = [binary(0.75)] * 4 + [binary(0.5)] * 2 + [binary(1.0, 1)] * 3
    labels = [0, 0, 0, 1] + [0, 1] + [1, 1, 1]
    assert cal.ece(rows, labels) == 0.0
    assert cal.accuracy(rows, labels) == pytest.approx(7 / 9)


def test_probabilities_drawn_then_labels_drawn_from_them_give_ece_near_0():
    """Sampling noise only: with 200,000 items and 15 bins, about 0.002."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200_000, 3)) * 2.0
    probabilities = cal.softmax(logits)
    labels = (rng.random(len(logits))[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    assert cal.ece(probabilities, labels) < 0.005
    # the same probabilities made over-confident are miscalibrated by far more than the noise
    assert cal.ece(cal.softmax(logits * 3), labels) > 0.05


def test_brier_and_nll_on_a_hand_computed_case():
    probabilities = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]
    labels = [0, 2]
    # item 1: 0.3² + 0.2² + 0.1² = 0.14; item 2: 0.1² + 0.6² + 0.7² = 0.86; mean 0.5
    assert cal.brier(probabilities, labels) == pytest.approx(0.5)
    assert cal.nll(probabilities, labels) == pytest.approx(-(np.log(0.7) + np.log(0.3)) / 2)
    # binary: twice the one-probability form (p_1 - y)^2 (scikit-learn's brier_score_loss)
    assert cal.brier([[0.9, 0.1]], [1]) == pytest.approx(2 * 0.9 ** 2)
    # a certain mistake costs -ln(1e-12), not infinity
    assert cal.nll([[1.0, 0.0]], [1]) == pytest.approx(-np.log(1e-12))
    assert cal.brier([[1.0, 0.0]], [0]) == 0.0 and cal.nll([[1.0, 0.0]], [0]) == 0.0


def overconfident(n: int, seed: int, sharpen: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``sharpen`` times what the labels were drawn from: T = ``sharpen`` calibrates them."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, 3)) * 1.5
    labels = (rng.random(n)[:, None] > cal.softmax(truth).cumsum(axis=1)).sum(axis=1)
    return truth * sharpen, labels


def test_temperature_scaling_fixes_overconfidence_and_never_changes_accuracy():
    select, report = overconfident(4000, seed=1), overconfident(4000, seed=2)
    t = cal.fit_temperature(*select)
    assert t > 1 and t == pytest.approx(3.0, rel=0.15)
    z, y = report
    before, after = cal.softmax(z), cal.softmax(z, t)
    assert np.array_equal(before.argmax(axis=1), after.argmax(axis=1))
    assert cal.accuracy(after, y) == cal.accuracy(before, y)
    assert cal.nll(after, y) < cal.nll(before, y) and cal.ece(after, y) < cal.ece(before, y)
    # under-confident logits give T < 1
    assert cal.fit_temperature(select[0] / 9, select[1]) < 1


def test_calibrate_gives_the_record_fields():
    select, report = overconfident(1000, seed=3), overconfident(300, seed=4)
    c = cal.calibrate(select, report)
    assert isinstance(c, Calibration) and c.scores == "logits"
    assert c.accuracy_scaled == c.accuracy and c.temperature > 1
    assert c.nll_scaled < c.nll and c.ece_scaled < c.ece and c.brier_scaled < c.brier
    p = cal.softmax(report[0])
    assert c.ece == pytest.approx(cal.ece(p, report[1])) and c.brier == pytest.approx(cal.brier(p, report[1]))
    assert len(c.bins) == 15 and sum(b[0] for b in c.bins) == 300
    assert c.labels == report[1].tolist() and len(c.probabilities) == 300
    assert all(len(row) == 3 and row == [round(x, 4) for x in row] for row in c.probabilities)
    assert np.allclose(c.probabilities, p, atol=5e-5 + 1e-12)


def test_probabilities_are_read_as_probabilities():
    """A head that outputs probabilities (kNN vote shares) keeps them: their logarithms are the logits."""
    votes = np.array([[0.7, 0.3], [0.0, 1.0], [0.4, 0.6], [1.0, 0.0]])
    logits, kind = cal.as_logits(votes)
    assert kind == "probabilities" and np.allclose(cal.softmax(logits), votes, atol=1e-11)
    c = cal.calibrate((votes, [0, 1, 0, 0]), (votes, [0, 1, 1, 1]))
    assert c.scores == "probabilities" and c.probabilities == votes.tolist()
    assert c.accuracy == c.accuracy_scaled == 0.75
    assert cal.as_logits([[2.0, -1.0]])[1] == "logits"


@pytest.mark.parametrize(("scores", "labels", "match"), [
    ([[0.2, 0.8]], [2], "labels must lie in"),
    ([[0.5], [0.5]], [0, 0], "2\\+ classes"),
    ([[np.nan, 1.0]], [0], "NaN"),
    (np.zeros((0, 2)), [], "no items"),
])
def test_bad_inputs_raise(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        cal.calibrate((scores, labels), (scores, labels))


def test_text_task_class_scores_are_its_logits_for_classification_only():
    from tlbench.text_task import TextTask

    class Clf(TextTask):
        default_labels = ("a", "b")
        primary_metric = "accuracy"

    class Reg(Clf):
        regression = True

    logits = np.array([[0.1, 2.0], [1.5, -1.0]], dtype=np.float32)
    z, y = Clf("c", Clf.Options()).class_scores(logits, {}, {"label": [1, 0]})
    assert np.array_equal(z, logits) and y.tolist() == [1, 0]
    assert np.array_equal(z.argmax(-1), Clf("c", Clf.Options()).decode(logits, {}, None))
    assert Reg("r", Reg.Options()).class_scores(logits[:, :1], {}, {"label": [0.5, 1.0]}) is None


def calibrated(r, ece: float, t: float = 1.5):
    c = cal.calibrate(overconfident(200, seed=r.seed), overconfident(50, seed=r.seed + 10))
    return r.but(calibration=c.model_copy(update={"ece": ece, "temperature": t}))


def test_record_keeps_calibration_and_old_records_load():
    r = calibrated(record(), 0.1)
    again = load_record(json.loads(json.dumps(r.to_json())))
    assert again.calibration == r.calibration and isinstance(again.calibration, Calibration)
    old = r.to_json()
    del old["calibration"]
    assert load_record(old).calibration is None
    bad = r.to_json()
    bad["calibration"]["labels"] = bad["calibration"]["labels"][:-1]
    with pytest.raises(ValueError, match="probability rows"):
        load_record(bad)


def test_the_leaderboard_shows_calibration_only_where_records_have_it():
    plain = [record(seed=s) for s in range(2)] + [record("lora", seed=s) for s in range(2)]
    md = leaderboard(plain, "s", baseline="full_finetune")
    assert "ECE" not in md
    a = analyse(plain, baseline="full_finetune")
    assert a["tasks"]["sst2"]["strategies"]["lora"]["calibration"] is None
    records = [calibrated(record(seed=0), 0.10, 1.0), calibrated(record(seed=1), 0.20, 2.0)]
    records += [calibrated(record("lora", seed=0), 0.05), record("lora", seed=1)]
    a = analyse(records, baseline="full_finetune")
    cell = a["tasks"]["sst2"]["strategies"]["full_finetune"]["calibration"]
    assert cell["n"] == 2 and cell["ece"] == pytest.approx(0.15) and cell["temperature"] == pytest.approx(1.5)
    assert cell["accuracy_scaled"] == cell["accuracy"]
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert cal.DEFINITION in md
    section = md.split("## sst2", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "ECE" not in line]
    full = next(line for line in rows if line.startswith("| full_finetune |") and "0.150" in line)
    assert "| 1.50 |" in full
    lora = next(line for line in rows if line.startswith("| lora (1 of 2 seeds) |"))
    assert "**0.050**" in lora  # the lowest ECE in bold
