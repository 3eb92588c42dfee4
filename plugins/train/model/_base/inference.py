"""The swap (inference) model cut out of a trained model."""
from __future__ import annotations

import logging

import keras

from lib.errors import FaceswapError

__all__ = ["Inference"]

logger = logging.getLogger(__name__)


class Inference:
    """One input, the target side's decoder outputs, sharing the trained model's weights.

    For the swap A -> B (``switch_sides=False``) faces go through the encoder and come out of
    decoder B: the result is the part of the trained graph between ``face_in_b`` and the side-B
    outputs (the second half of the outputs), which computes ``decoder_b(encoder(x))``. With
    ``switch_sides`` it is ``face_in_a`` and the side-A outputs.

    Parameters
    ----------
    saved_model
        The trained model: two inputs, side-A outputs then side-B outputs.
    switch_sides
        ``False`` for A -> B, ``True`` for B -> A.

    Faceswap compat: Faceswap 3 walks the layer graph by hand and supports a single output only
    (a learned mask makes it fail); Keras' functional API cuts the same sub-graph directly, and a
    mask output is returned beside the face.
    """

    def __init__(self, saved_model: keras.Model, switch_sides: bool = False) -> None:
        inputs, outputs = list(saved_model.inputs), list(saved_model.outputs)
        if len(inputs) != 2 or not outputs or len(outputs) % 2:
            raise FaceswapError(
                f"The model '{saved_model.name}' has {len(inputs)} inputs and {len(outputs)} "
                "outputs; a Faceswap model has two inputs (A and B) and the same outputs for "
                "each side.")
        index = 0 if switch_sides else 1
        half = len(outputs) // 2
        target = outputs[:half] if switch_sides else outputs[half:]
        self.model = keras.Model(inputs[index], target if len(target) > 1 else target[0],
                                 name=f"{saved_model.name}_inference")
        logger.debug("Inference model: input '%s', %s output(s)", inputs[index].name,
                     len(target))
