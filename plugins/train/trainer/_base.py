"""``TrainerBase``: runs one training step of a model plugin and returns its per-output losses."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lib.errors import FaceswapError

if TYPE_CHECKING:
    from plugins.train.model._base import ModelBase

__all__ = ["TrainerBase"]

logger = logging.getLogger(__name__)


class TrainerBase:
    """Base class for trainer plugins.

    Parameters
    ----------
    model
        The built, compiled model plugin.
    batch_size
        The number of faces per side in a batch.
    """

    def __init__(self, model: ModelBase, batch_size: int) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
        self.model = model
        self.batch_size = batch_size

    def train_batch(self, inputs: np.ndarray | Sequence[np.ndarray],
                    targets: Sequence[np.ndarray]) -> np.ndarray:
        """Train the model on one batch.

        Parameters
        ----------
        inputs
            ``(2, batch, height, width, 3)``: the side A faces, then the side B faces (or a pair
            of ``(batch, height, width, 3)`` arrays).
        targets
            One array per output position of a side, each ``(2, batch, size, size, channels)``
            (side A, side B): a face target carries the mask channels after its 3 colour
            channels, a mask target is the mask.

        Returns
        -------
        The loss of every model output for this batch, in output order (side A outputs, then
        side B outputs), as float32.
        """
        raise NotImplementedError

    def _flat_targets(self, targets: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Targets in the model's output order: every side A target, then every side B one."""
        outputs = len(self.model.model.outputs)
        if 2 * len(targets) != outputs:
            raise FaceswapError(
                f"The '{self.model.name}' model has {outputs} outputs ({outputs // 2} per side), "
                f"but the batch holds {len(targets)} target(s) per side.")
        return [target[0] for target in targets] + [target[1] for target in targets]
