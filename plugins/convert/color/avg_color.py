"""``avg-color`` (the default): shift each colour channel of the swapped face so that its mean
inside the mask equals the original face's (faceswap_data.md §6.4). No options."""
from __future__ import annotations

import numpy as np

from plugins.convert.color._base import Adjustment

__all__ = ["Color"]


class Color(Adjustment):
    """Average colour adjustment.

    Twice: ``new += sum((old - new) * mask) / sum(mask)`` per channel, summed over the face
    (or ``new += old - new`` per pixel when the mask is empty). The shift applies to every
    pixel of the face, not only the masked ones. The second pass adds (numerically) zero; it is
    kept for parity with Faceswap.
    """

    def process(self, old_face: np.ndarray, new_face: np.ndarray,
                raw_mask: np.ndarray) -> np.ndarray:
        weights = raw_mask.reshape(-1)
        masked = bool(np.any(weights))
        total = weights.sum(dtype="float32")
        for _ in range(2):
            difference = old_face - new_face
            # the mask-weighted sum of each channel as one matrix product (NumPy's reduction
            # of the broadcast product over two axes took several times longer)
            adjustment = (weights @ difference.reshape(-1, difference.shape[-1]) / total
                          if masked else difference)
            new_face = new_face + adjustment
        return new_face
