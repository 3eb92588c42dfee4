"""``match-hist``: match the histogram of each colour channel of the swapped face, inside the
mask, to the original face's (section ``color.match_hist``, option ``threshold``).

Faceswap compat: this plugin is not described in the shared spec (faceswap_data.md); it follows
Faceswap 3's ``plugins/convert/color/match_hist.py`` as we know its behaviour: quantile mapping
over the pixels where the mask is non-zero, the swapped face's cumulative distribution scaled by
``threshold / 100`` (which pulls the brightest values in), pixels outside the mask unchanged.
"""
from __future__ import annotations

import numpy as np

from plugins.convert.color import match_hist_defaults as cfg
from plugins.convert.color._base import Adjustment

__all__ = ["Color"]


class Color(Adjustment):
    """Histogram matching.

    Parameters
    ----------
    threshold
        Percent (90-100); ``None`` reads ``color.match_hist.threshold`` from ``convert.ini``.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = float(cfg.threshold() if threshold is None else threshold) / 100

    def process(self, old_face: np.ndarray, new_face: np.ndarray,
                raw_mask: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(raw_mask.reshape(raw_mask.shape[:2]))
        if rows.size == 0:
            return new_face
        for channel in range(3):
            new_face[..., channel] = self._match(old_face[..., channel],
                                                 new_face[..., channel], (rows, cols))
        return new_face

    def _match(self, old: np.ndarray, new: np.ndarray,
               where: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Map each masked value of ``new`` at its (thresholded) quantile to the value of
        ``old`` at the same quantile, interpolating linearly between ``old``'s values."""
        _, inverse, new_counts = np.unique(new[where], return_inverse=True, return_counts=True)
        old_values, old_counts = np.unique(old[where], return_counts=True)
        new_quantiles = np.cumsum(new_counts, dtype="float32")
        new_quantiles = self.threshold * new_quantiles / new_quantiles[-1]
        old_quantiles = np.cumsum(old_counts, dtype="float32")
        old_quantiles /= old_quantiles[-1]
        mapped = np.interp(new_quantiles, old_quantiles, old_values)
        new = new.copy()
        new[where] = mapped[inverse.reshape(-1)]
        return new
