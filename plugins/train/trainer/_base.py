"""``TrainerBase``: runs one training step of a model plugin and returns its per-output losses.

The batch size is checked here, once, where it enters training (:func:`check_batch_size`: the
trainer's construction, and the command line's ``-b`` through the same function); the feeder and
the augmentation downstream take it as given.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.errors import FaceswapError

if TYPE_CHECKING:
    from plugins.train.model._base import ModelBase

__all__ = ["MAX_BATCH_SIZE", "BatchSizeError", "TrainerBase", "check_batch_size"]

logger = logging.getLogger(__name__)

MAX_BATCH_SIZE = 256
"""The largest batch size (faces per side), Faceswap 3's upper bound for ``-b``."""


class BatchSizeError(FaceswapError, ValueError):
    """A batch size that is not a whole number from 1 to :data:`MAX_BATCH_SIZE`. A
    :class:`~lib.errors.FaceswapError` (the command line prints it and exits 1) and a
    ``ValueError`` (a bad argument, for Python callers)."""


def check_batch_size(batch_size: Any) -> int:
    """The one check of a batch size.

    Parameters
    ----------
    batch_size
        Faces per side in a batch: a Python or NumPy integer (not a bool).

    Returns
    -------
    The batch size as an ``int``.

    Raises
    ------
    BatchSizeError
        If it is not an integer from 1 to :data:`MAX_BATCH_SIZE`.
    """
    if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
            or not 1 <= batch_size <= MAX_BATCH_SIZE):
        raise BatchSizeError(
            f"`batch_size` must be a positive integer, at most {MAX_BATCH_SIZE} (the faces per "
            f"side in a batch; -b on the command line). Received: {batch_size!r}")
    return int(batch_size)


class TrainerBase:
    """Base class for trainer plugins.

    Parameters
    ----------
    model
        The built, compiled model plugin.
    batch_size
        The number of faces per side in a batch, 1 to :data:`MAX_BATCH_SIZE`.

    Raises
    ------
    BatchSizeError
        For any other batch size (:func:`check_batch_size`).
    """

    def __init__(self, model: ModelBase, batch_size: int) -> None:
        self.batch_size = check_batch_size(batch_size)
        self.model = model

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
