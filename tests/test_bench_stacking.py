"""benchmarks/stacking.py's metalearner: weights of at least 0 and an intercept, fitted on the
members' validation scores, applied the same way to their test scores."""

from __future__ import annotations

import numpy as np

from benchmarks.stacking import apply_stack, fit_stack


def test_numbers_get_non_negative_weights_and_an_intercept() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(100, 20, 400)
    good = truth + rng.normal(0, 5, 400)
    noisy = truth + rng.normal(0, 20, 400)
    opposite = 200 - truth  # would need a negative weight: left out
    w, b = fit_stack([good, noisy, opposite], truth, "regression")
    assert w.shape == (3,) and np.all(w >= 0) and w[0] > w[1] and w[2] == 0
    fitted = apply_stack([good, noisy, opposite], w, b, "regression")
    assert np.sqrt(np.mean((fitted - truth) ** 2)) <= np.sqrt(np.mean((good - truth) ** 2))


def test_two_classes_are_stacked_on_log_odds_and_give_probabilities() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-z))).astype(int)
    shy = 1 / (1 + np.exp(-0.3 * z))  # right order, too unsure: the stack sharpens it
    w, b = fit_stack([shy], y, "binary")
    assert 2.5 < w[0] < 4.0 and abs(b) < 0.3
    p = apply_stack([shy], w, b, "binary")
    assert np.all((p > 0) & (p < 1))


def test_three_classes_give_rows_of_probabilities() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    sure = np.full((600, 3), 0.1)
    sure[np.arange(600), y] = 0.8
    blind = np.full((600, 3), 1 / 3)
    w, b = fit_stack([sure, blind], y, "multiclass")
    assert w[0] > 0 and np.asarray(b).shape == (3,)
    p = apply_stack([sure, blind], w, b, "multiclass")
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.mean(p.argmax(axis=1) == y) == 1.0
