"""lib.training.lr_finder: Faceswap's learning-rate search on synthetic loss curves whose best
learning rate is known."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.training.lr_finder import STRENGTHS, LearningRateFinder, plot_lr_finder


class _Curve:
    """A fake model: the loss of a step depends only on the learning rate it ran at."""

    def __init__(self, loss_of_rate):
        self.loss_of_rate = loss_of_rate
        self.rate = None
        self.rates: list[float] = []

    def set_rate(self, rate: float) -> None:
        self.rate = rate

    def step(self) -> float:
        self.rates.append(self.rate)
        return self.loss_of_rate(self.rate)


def _v_shape(best: float):
    """Lowest (1.0) at ``best``, rising by 1 per decade either side."""
    return lambda rate: 1.0 + abs(math.log10(rate) - math.log10(best))


def test_schedule_is_exponential_from_1e_minus_10_to_1e1():
    curve = _Curve(lambda rate: 1.0 / (1.0 + rate))  # falls slowly: runs every step
    finder = LearningRateFinder(curve.step, curve.set_rate, iterations=100)
    finder.find()
    expected = 1e-10 * (1e11 ** (1 / 100)) ** np.arange(100)
    np.testing.assert_allclose(curve.rates, expected, rtol=1e-9)
    assert finder.multiplier == pytest.approx(10 ** 0.11)


@pytest.mark.parametrize("strength", list(STRENGTHS))
def test_unsmoothed_search_finds_the_minimum(strength):
    """With no smoothing (beta 0) the best rate is the grid point nearest 1e-3, and the rate
    chosen is it divided by 10, 5 or 2.5."""
    curve = _Curve(_v_shape(1e-3))
    result = LearningRateFinder(curve.step, curve.set_rate, iterations=1100, strength=strength,
                                beta=0.0).find()
    grid = 1e-10 * 10 ** (np.arange(1100) / 100)
    nearest = grid[np.argmin(np.abs(np.log10(grid) + 3))]
    assert result.best_learning_rate == pytest.approx(nearest, rel=1e-9)
    assert result.learning_rate == pytest.approx(nearest / {"default": 10, "aggressive": 5,
                                                            "extreme": 2.5}[strength])


def test_smoothed_loss_is_the_bias_corrected_moving_average():
    """The smoothed curve equals the closed form (1 - b) sum_j b^(i-j) loss_j / (1 - b^i), and the
    best rate is where that closed form is lowest."""
    rng = np.random.default_rng(0)
    noise = iter(rng.normal(0, 0.05, 2000))
    curve = _Curve(lambda rate: _v_shape(1e-4)(rate) + next(noise))
    beta = 0.98
    result = LearningRateFinder(curve.step, curve.set_rate, iterations=500, beta=beta).find()
    losses = np.array(result.losses)
    steps = np.arange(1, len(losses) + 1)
    closed = np.array([(1 - beta) * np.sum(beta ** (i - np.arange(1, i + 1)) * losses[:i])
                       / (1 - beta ** i) for i in steps])
    np.testing.assert_allclose(result.smoothed, closed, rtol=1e-9)
    best = int(np.argmin(closed))
    assert result.best_learning_rate == pytest.approx(result.learning_rates[best])
    # smoothing lags, so the best rate is at or after the true minimum, within a decade
    assert 1e-4 * 0.5 <= result.best_learning_rate <= 1e-3


def test_search_stops_once_the_loss_diverges():
    """Beyond 1e-2 the loss explodes: the search stops when the smoothed loss passes 4x the
    best, long before the 1100 iterations, and the best is still the minimum."""
    curve = _Curve(lambda rate: 1.0 + abs(math.log10(rate) + 5) if rate < 1e-2 else 1e4)
    result = LearningRateFinder(curve.step, curve.set_rate, iterations=1100, beta=0.0).find()
    assert result.stopped_early
    assert max(curve.rates) < 2e-2 and len(curve.rates) < 1100
    assert result.best_learning_rate == pytest.approx(1e-5, rel=0.03)


def test_a_nan_loss_ends_the_search_with_what_was_found():
    curve = _Curve(lambda rate: _v_shape(1e-6)(rate) if rate < 1e-3 else math.nan)
    result = LearningRateFinder(curve.step, curve.set_rate, iterations=1100, beta=0.0).find()
    assert result.stopped_early and all(math.isfinite(loss) for loss in result.losses)
    assert result.best_learning_rate == pytest.approx(1e-6, rel=0.03)


def test_nothing_learned_is_an_error():
    """A loss lowest at the first rate gives 1e-10 / 10, below 1e-9: a FaceswapError."""
    curve = _Curve(lambda rate: 1.0 + rate)
    with pytest.raises(FaceswapError, match="below 1e-09"):
        LearningRateFinder(curve.step, curve.set_rate, iterations=200, beta=0.0).find()
    with pytest.raises(FaceswapError, match="first step"):
        LearningRateFinder(_Curve(lambda rate: math.inf).step, curve.set_rate, 10).find()


def test_bad_arguments():
    with pytest.raises(ValueError, match="strength"):
        LearningRateFinder(lambda: 0.0, lambda rate: None, 100, strength="wild")
    with pytest.raises(ValueError, match="iterations"):
        LearningRateFinder(lambda: 0.0, lambda rate: None, 0)


def test_graph_is_a_png(tmp_path):
    curve = _Curve(_v_shape(1e-4))
    result = LearningRateFinder(curve.step, curve.set_rate, iterations=300).find()
    path = plot_lr_finder(result, tmp_path / "learning_rate_finder.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (500, 800, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # a drawing, not a blank page
    assert [p.name for p in tmp_path.iterdir()] == ["learning_rate_finder.png"]


def test_progress_bar_on_a_terminal_and_the_same_result():
    """Faceswap shows the search's progress: a bar on standard error (when it is a terminal),
    with the rates; the result does not depend on it."""
    from tests.lib.progress_test import on_terminal

    def search():
        curve = _Curve(_v_shape(1e-4))
        return LearningRateFinder(curve.step, curve.set_rate, iterations=200).find()

    quiet = search()
    with on_terminal() as terminal:
        shown = search()
    text = terminal.getvalue()
    assert "Learning rate finder" in text and "/200" in text and "best 1." in text
    assert (shown.learning_rate, shown.losses) == (quiet.learning_rate, quiet.losses)
