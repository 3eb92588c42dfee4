"""Synthetic faces with known landmarks for the lib.align and feeder tests (faceswap_data.md
§3.8: points 17-67 are the mean face, rotated 10 degrees, 200 px across, centred at (320, 240)).
"""
from __future__ import annotations

import numpy as np

from lib.align.constants import MEAN_FACE


def unit_landmarks() -> np.ndarray:
    """The 68 points of the §3.8 face in the unit square (jaw on an ellipse)."""
    theta = np.pi - np.arange(17) * np.pi / 16
    jaw = np.stack([0.5 + 0.55 * np.cos(theta), 0.3 + 0.8 * np.sin(theta)], axis=1)
    return np.concatenate([jaw, MEAN_FACE["68"]])


def spec_landmarks(scale: float = 200.0, angle: float = 10.0,
                   centre: tuple[float, float] = (320.0, 240.0)) -> np.ndarray:
    """Frame landmarks of the §3.8 face (float32 (68, 2))."""
    rad = np.deg2rad(angle)
    rotation = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    return np.float32(scale * (unit_landmarks() - 0.5) @ rotation.T + np.array(centre))
