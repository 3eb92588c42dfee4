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
        for _ in range(2):
            difference = old_face - new_face
            if np.any(raw_mask):
                adjustment = (np.sum(difference * raw_mask, axis=(0, 1))
                              / np.sum(raw_mask, axis=(0, 1)))
            else:
                adjustment = difference
            new_face = new_face + adjustment
        return new_face
