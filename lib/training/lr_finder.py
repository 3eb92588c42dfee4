"""Faceswap's learning-rate finder: before training, find the learning rate to train at.

The finder trains for ``iterations`` steps while the learning rate rises exponentially from
``1e-10`` to ``1e+1``, tracks an exponentially smoothed (bias-corrected) total loss, and takes the
learning rate at which the smoothed loss was lowest, divided by the strength's divisor
(``default`` 10, ``aggressive`` 5, ``extreme`` 2.5). It knows nothing of models: it is given the
step to run and the way to read and write the learning rate, so ``lib`` stays free of
``plugins``; putting the weights and optimizer back afterwards is the caller's work
(``plugins.train.training.run_lr_finder``).

Faceswap compat: Faceswap's loop sets ``stop_training`` once the smoothed loss passes
``stop_factor`` x the best, but never reads it, so it runs every iteration (with the learning
rate frozen from there on). Here the search stops at that point: the steps after it cannot change
the result (the best loss and its learning rate are fixed once the loss diverges), so they are
skipped. A failed search (a learning rate below ``1e-9``) raises a ``FaceswapError`` and leaves
the model folder alone, where Faceswap deletes the folder. See docs/differences.md.

As Faceswap, the search shows a ``tqdm`` progress bar (steps, the current and the best rate) on
a terminal (:func:`lib.progress.progress`).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.errors import FaceswapError
from lib.progress import progress
from lib.utils import atomic_replace

__all__ = ["STRENGTHS", "FinderResult", "LearningRateFinder", "plot_lr_finder"]

logger = logging.getLogger(__name__)

#: Divisor of the best learning rate for each ``lr_finder_strength``.
STRENGTHS = {"default": 10.0, "aggressive": 5.0, "extreme": 2.5}
_START, _END = 1e-10, 1e1
_MINIMUM = 1e-9


@dataclass
class FinderResult:
    """What a search found.

    Attributes
    ----------
    learning_rate
        The rate to train at: the best rate divided by the strength's divisor.
    best_learning_rate
        The rate at which the smoothed loss was lowest.
    learning_rates, losses, smoothed
        Per step: the rate it ran at, its total loss and the smoothed loss so far.
    stopped_early
        ``True`` when the smoothed loss passed ``stop_factor`` x the best before the last step.
    """

    learning_rate: float
    best_learning_rate: float
    learning_rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped_early: bool = False


class LearningRateFinder:
    """Run Faceswap's learning-rate search.

    Parameters
    ----------
    train_step
        Runs one training step at the current learning rate and returns its total loss.
    set_learning_rate
        Writes the learning rate the next step runs at.
    iterations
        ``lr_finder_iterations``: the steps from ``1e-10`` to ``1e+1``.
    strength
        ``lr_finder_strength``: ``"default"``, ``"aggressive"`` or ``"extreme"``.
    stop_factor
        The search stops once the smoothed loss exceeds this multiple of the best.
    beta
        The smoothing factor of the loss.
    """

    def __init__(self, train_step: Callable[[], float],
                 set_learning_rate: Callable[[float], None], iterations: int,
                 strength: str = "default", stop_factor: float = 4.0,
                 beta: float = 0.98) -> None:
        if strength not in STRENGTHS:
            raise ValueError(f"`strength` must be one of {list(STRENGTHS)}. Received: "
                             f"{strength!r}")
        if iterations < 1:
            raise ValueError(f"`iterations` must be at least 1. Received: {iterations}")
        self._train_step = train_step
        self._set_learning_rate = set_learning_rate
        self._iterations = iterations
        self._divisor = STRENGTHS[strength]
        self._stop_factor = stop_factor
        self._beta = beta

    @property
    def multiplier(self) -> float:
        """The factor between two steps' learning rates: ``(1e1 / 1e-10) ** (1 / iterations)``."""
        return (_END / _START) ** (1.0 / self._iterations)

    def find(self) -> FinderResult:
        """Run the search and return what it found.

        Raises
        ------
        FaceswapError
            When a loss is not finite before any usable rate was found, or the rate found is
            below ``1e-9`` (the model does not learn at any rate tried).
        """
        rate, average, best = _START, 0.0, math.inf
        result = FinderResult(0.0, _START)
        logger.info("Searching for the learning rate over %s iterations (from %.0e to %.0e).",
                    self._iterations, _START, _END)
        # each step is a training step: the bar is redrawn at every one (mininterval=0)
        with progress(total=self._iterations, desc="Learning rate finder", unit="step",
                      mininterval=0) as bar:
            for step in range(1, self._iterations + 1):
                self._set_learning_rate(rate)
                loss = float(self._train_step())
                bar.update()
                if not math.isfinite(loss):
                    logger.info("The loss became %s at learning rate %.3e: the search ends.",
                                loss, rate)
                    result.stopped_early = step < self._iterations
                    break
                average = self._beta * average + (1.0 - self._beta) * loss
                smoothed = average / (1.0 - self._beta ** step)
                result.learning_rates.append(rate)
                result.losses.append(loss)
                result.smoothed.append(smoothed)
                if step > 1 and smoothed > self._stop_factor * best:
                    result.stopped_early = step < self._iterations
                    break
                if step == 1 or smoothed < best:
                    best, result.best_learning_rate = smoothed, rate
                bar.set_postfix_str(f"current {rate:.1e}, best {result.best_learning_rate:.1e}",
                                    refresh=False)
                rate *= self.multiplier
        if not result.losses:
            raise FaceswapError("The learning-rate finder's first step gave a loss that is not "
                                "finite. Check the training data and the loss options, or "
                                "train without the learning-rate finder.")
        result.learning_rate = result.best_learning_rate / self._divisor
        if result.learning_rate < _MINIMUM:
            raise FaceswapError(
                f"The learning-rate finder found {result.learning_rate:.1e}, below {_MINIMUM:.0e}:"
                " the model did not learn at any rate tried. Check the training data and the "
                "loss options, try more lr_finder_iterations, or set learning_rate yourself and "
                "train without the finder.")
        logger.info("Learning rate found: %.3e (best loss at %.3e, divided by %s).",
                    result.learning_rate, result.best_learning_rate, self._divisor)
        return result


def plot_lr_finder(result: FinderResult, path: str | Path) -> Path:
    """Draw the smoothed loss against the learning rate (log scale), with the rate chosen
    marked, as a PNG at ``path`` (written atomically). Returns the path."""
    import matplotlib  # only the graph modes need it

    matplotlib.use("Agg")
    from matplotlib import pyplot

    path = Path(path)
    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=100)
    try:
        rates = np.asarray(result.learning_rates)
        axes.plot(rates, result.smoothed, color="tab:blue", label="smoothed loss")
        axes.set_xscale("log")
        axes.axvline(result.best_learning_rate, color="tab:grey", linestyle=":",
                     label=f"lowest loss: {result.best_learning_rate:.1e}")
        axes.axvline(result.learning_rate, color="tab:red", linestyle="--",
                     label=f"learning rate chosen: {result.learning_rate:.1e}")
        axes.set_xlabel("learning rate (log scale)")
        axes.set_ylabel("loss")
        axes.set_title("Learning rate finder")
        finite = [value for value in result.smoothed if math.isfinite(value)]
        if finite:  # the diverging tail would flatten the curve: show up to twice the start
            axes.set_ylim(min(finite) * 0.95, min(max(finite), 2 * finite[0]) * 1.05)
        axes.legend()
        with atomic_replace(path, suffix=".png.tmp") as temporary:
            figure.savefig(temporary, format="png")
    finally:
        pyplot.close(figure)
    return path
