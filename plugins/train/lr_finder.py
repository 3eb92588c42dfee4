"""Faceswap's ``-r/--use-lr-finder`` around a model: search once, on a new model, for the
learning rate to train at; put the weights and optimizer back; remember the rate in the state.

The search itself is :class:`lib.training.lr_finder.LearningRateFinder`; this module gives it the
model's training step and learning rate, and reads the ``lr_finder_iterations``,
``lr_finder_mode`` and ``lr_finder_strength`` options of ``train.ini``.

Faceswap compat: as in Faceswap, the finder runs only on a model that has never trained (first
session, no iterations); a model with a stored result (the state's ``lr_finder``) trains at that
rate. Faceswap saves the model before the search and reloads it afterwards; here the weights and
the optimizer's variables are copied in memory and written back, so the search leaves no file
behind (with ``graph_and_exit`` the untrained model and its state are saved, so that the next
run trains at the rate found, as in Faceswap).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from lib.training.lr_finder import LearningRateFinder, plot_lr_finder
from plugins.train import train_config as cfg

if TYPE_CHECKING:
    from lib.training.generator import Feeder
    from plugins.train.trainer._base import TrainerBase

__all__ = ["handle_lr_finder"]

logger = logging.getLogger(__name__)


def _set_learning_rate(model: keras.Model, rate: float) -> None:
    model.optimizer.learning_rate.assign(rate)


def _snapshot(model: keras.Model) -> list[tuple[Any, np.ndarray]]:
    """Every weight and optimizer variable with a copy of its value (the optimizer is built
    first, so its initial state is part of the copy)."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.weights) + list(optimizer.variables)
    return [(variable, np.array(keras.ops.convert_to_numpy(variable.value)))
            for variable in variables]


def _restore(snapshot: list[tuple[Any, np.ndarray]]) -> None:
    for variable, value in snapshot:
        variable.assign(value)


def handle_lr_finder(plugin: TrainerBase, feeder: Feeder, use_lr_finder: bool) -> bool:
    """Faceswap's learning-rate finder step before training.

    Parameters
    ----------
    plugin
        The trainer plugin (holding the built, compiled model plugin).
    feeder
        The data feeder the search draws its batches from.
    use_lr_finder
        ``-r/--use-lr-finder``: nothing happens without it.

    Returns
    -------
    ``True`` when training must not go on (``lr_finder_mode = graph_and_exit``).

    Raises
    ------
    lib.errors.FaceswapError
        When the search fails (no usable rate); the model is unchanged.
    """
    if not use_lr_finder:
        return False
    model_plugin = plugin.model
    model, state = model_plugin.model, model_plugin.state
    if state.lr_finder > -1:
        logger.info("Training at the learning rate found before: %.3e", state.lr_finder)
        _set_learning_rate(model, state.lr_finder)
        state.update_session_config("learning_rate", float(state.lr_finder))
        return False
    if state.iterations != 0 or state.session_id != 1:
        logger.warning("The learning-rate finder runs only on a new model; this one has trained "
                       "before and keeps its configured learning rate.")
        return False
    mode = cfg.lr_finder_mode()

    def train_step() -> float:
        inputs, targets = feeder.get_batch()
        return float(np.sum(plugin.train_batch(inputs, targets)))

    snapshot = _snapshot(model)
    try:
        result = LearningRateFinder(train_step, lambda rate: _set_learning_rate(model, rate),
                                    cfg.lr_finder_iterations(),
                                    cfg.lr_finder_strength()).find()
    finally:
        _restore(snapshot)
    _set_learning_rate(model, result.learning_rate)
    state.add_lr_finder(float(result.learning_rate))
    state.update_session_config("learning_rate", float(result.learning_rate))
    if mode in ("graph_and_set", "graph_and_exit"):
        path = plot_lr_finder(result, model_plugin.io.folder.lr_finder_graph(
            time.strftime('%Y-%m-%d_%H.%M.%S')))
        logger.info("Learning rate finder graph saved to '%s'", path)
    if mode == "graph_and_exit":
        model_plugin.io.save(is_exit=True)
        logger.info("Learning rate found and saved with the model; exiting "
                    "(lr_finder_mode = graph_and_exit). Train again to train at it.")
        return True
    return False
