"""The default trainer: one Keras training step per batch on the compiled model.

Faceswap compat: Faceswap 3's trainer computes each output's loss itself in a PyTorch step; we
use Keras's compiled training step (so it runs, and is compiled, on every backend) and read the
per-output losses of that same step from Keras's loss metrics, which Keras resets on every
``train_on_batch`` call, so they are the losses of this batch, not running means.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.errors import FaceswapError
from lib.utils import get_module_objects

from ._base import TrainerBase


class Trainer(TrainerBase):
    """Train a model plugin one batch at a time with ``keras.Model.train_on_batch``."""

    def train_batch(self, inputs: np.ndarray | Sequence[np.ndarray],
                    targets: Sequence[np.ndarray]) -> np.ndarray:
        model = self.model.model
        batch_inputs, batch_targets = self.model.distribute_batch(  # split over replicas
            [inputs[0], inputs[1]], self._flat_targets(targets))
        logs = model.train_on_batch(batch_inputs, batch_targets, return_dict=True)
        names = [f"{name}_loss" for name in model.output_names]
        missing = [name for name in names if name not in logs]
        if missing:
            raise FaceswapError(
                f"The training step did not report the losses {missing} (it reported "
                f"{sorted(logs)}). Build and compile the model through ModelBase.build().")
        return np.array([logs[name] for name in names], dtype="float32")


__all__ = get_module_objects(__name__)
