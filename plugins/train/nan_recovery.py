"""Rolling back to the last save when the loss turns NaN or infinite (beyond Faceswap).

Faceswap stops training on a non-finite loss (``nan_protection``, kept as it is and the default
here). With ``nan_rollbacks`` set above 0 in ``[global]``, a non-finite loss instead:

1. puts the model back to the last save: its weights and optimizer variables as they were written
   then, and its iteration count (the steps since that save are run again, on new batches);
2. multiplies the learning rate by ``nan_rollback_factor`` (and the warm-up's target with it);
3. skips the offending batch (the next step takes the next batch) and trains on.

Each rollback is logged and recorded in the state file's current session under
``nan_rollbacks`` (a list of ``{"iteration", "restored_iteration", "learning_rate"}``, which
Faceswap 3 ignores when it loads the state). After ``nan_rollbacks`` rollbacks in one session the
next non-finite loss is handled as Faceswap handles it (``nan_protection``). Before the session's
first save (and with ``nan_rollbacks = 0``) nothing is kept and nothing changes.

The save is kept in memory at the moment it is written (a copy of the weights and optimizer
variables, on the host), so a rollback does not read the files back and works whatever
``save_optimizer`` says; its cost is one host copy of the model and optimizer while the option is
on. Tests prove the restored weights equal those in the saved ``.keras`` file.
"""
from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from lib.utils import get_module_objects

logger = logging.getLogger(__name__)


class NanRollback:
    """Keeps the last save and rolls the model back to it.

    Parameters
    ----------
    model
        The model plugin (``model``, ``state``, ``iterations``).
    limit
        Rollbacks allowed in this session (``nan_rollbacks``; 0 turns them off).
    factor
        What each rollback multiplies the learning rate by (``nan_rollback_factor``).
    """

    def __init__(self, model: Any, limit: int, factor: float) -> None:
        self._model = model
        self.limit = int(limit)
        self.factor = float(factor)
        self.used = 0
        self._saved: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @property
    def available(self) -> bool:
        """Whether a rollback can be made now (the option is on, a save is kept and the
        session's limit is not reached)."""
        return self.enabled and self._saved is not None and self.used < self.limit

    def remember(self) -> None:
        """Keep the model as just saved (call right after each save)."""
        if not self.enabled:
            return
        keras_model = self._model.model
        state = self._model.state
        self._saved = {
            "weights": [np.array(value, copy=True) for value in keras_model.get_weights()],
            "optimizer": [np.array(keras.ops.convert_to_numpy(variable), copy=True)
                          for variable in _optimizer_variables(keras_model)],
            "iterations": int(state.iterations),
            "session_iterations": int(state.current_session["iterations"])}

    def roll_back(self, failed_iteration: int, warmup: Any = None) -> float:
        """Put the model back to the kept save and lower the learning rate.

        Parameters
        ----------
        failed_iteration
            The iteration whose loss was not finite (for the log and the state).
        warmup
            The trainer's :class:`~plugins.train.training.LearningRateWarmup`, whose target is
            lowered too.

        Returns
        -------
        The learning rate training goes on with.
        """
        if not self.available or self._saved is None:
            raise RuntimeError("No rollback is available")
        keras_model = self._model.model
        optimizer = keras_model.optimizer
        # lowered from the rate in use, so rollbacks without a save between them compound
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * self.factor
        keras_model.set_weights(self._saved["weights"])
        for variable, value in zip(_optimizer_variables(keras_model), self._saved["optimizer"],
                                   strict=True):
            variable.assign(value)
        if warmup is not None and not warmup.finished:
            warmup.scale_target(self.factor)
        optimizer.learning_rate.assign(learning_rate)
        state = self._model.state
        state.rewind_iterations(self._saved["iterations"], self._saved["session_iterations"])
        self.used += 1
        record = {"iteration": int(failed_iteration),
                  "restored_iteration": int(self._saved["iterations"]),
                  "learning_rate": learning_rate}
        state.current_session.setdefault("nan_rollbacks", []).append(record)
        logger.warning(
            "A NaN or infinite loss at iteration %s: rolled back to the save at iteration %s "
            "(rollback %s of %s this session); the learning rate is now %.3g and the batch is "
            "skipped.", failed_iteration, self._saved["iterations"], self.used, self.limit,
            learning_rate)
        return learning_rate


def _optimizer_variables(keras_model: Any) -> list[Any]:
    """The optimizer's variables (moments, iteration count, loss scale, learning rate)."""
    optimizer = getattr(keras_model, "optimizer", None)
    return list(optimizer.variables) if optimizer is not None else []


__all__ = get_module_objects(__name__)
