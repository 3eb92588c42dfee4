"""``seamless-clone``: Poisson-blend the swapped face into the original face with OpenCV's
``seamlessClone`` (``NORMAL_CLONE``). No options.

Faceswap compat: not described in the shared spec; it follows Faceswap 3's
``plugins/convert/color/seamless_clone.py`` as we know its behaviour. The faces are padded by
half their size on every side so the clone may touch the edge; the region cloned is the
bounding box of the non-zero mask (its last row and column excluded, as Faceswap slices it),
with every non-zero mask pixel fully inside; the centre is that box's centre. An empty mask
(or one only a pixel high or wide) leaves the face unchanged (Faceswap fails and writes the frame
unconverted).
"""
from __future__ import annotations

import cv2
import numpy as np

from plugins.convert.color._base import Adjustment

__all__ = ["Color"]


class Color(Adjustment):
    """Seamless clone (Poisson image editing, Pérez et al. 2003, through OpenCV)."""

    def process(self, old_face: np.ndarray, new_face: np.ndarray,
                raw_mask: np.ndarray) -> np.ndarray:
        height, width = old_face.shape[0] // 2, old_face.shape[1] // 2
        rows, cols = np.nonzero(raw_mask.reshape(raw_mask.shape[:2]))
        if rows.size == 0 or rows.min() == rows.max() or cols.min() == cols.max():
            return new_face
        row_slice = slice(rows.min(), rows.max())
        col_slice = slice(cols.min(), cols.max())
        centre = (int(np.rint((cols.max() + cols.min()) / 2 + width)),
                  int(np.rint((rows.max() + rows.min()) / 2 + height)))
        insertion = np.rint(new_face[row_slice, col_slice] * 255.0).astype("uint8")
        insertion_mask = np.rint(raw_mask[row_slice, col_slice, 0] * 255.0).astype("uint8")
        insertion_mask[insertion_mask != 0] = 255
        prior = np.rint(np.pad(old_face * 255.0, ((height, height), (width, width), (0, 0)),
                               mode="constant")).astype("uint8")
        blended = cv2.seamlessClone(insertion, prior, insertion_mask, centre, cv2.NORMAL_CLONE)
        return blended[height:-height, width:-width].astype("float32") / 255.0
