"""The base of the colour adjustments and the loader of ``-c/--color-adjustment`` choices."""
from __future__ import annotations

import importlib

import numpy as np

__all__ = ["COLOR_CHOICES", "Adjustment", "get_color"]

COLOR_CHOICES = ["avg-color", "match-hist", "none", "seamless-clone"]
"""The ``-c/--color-adjustment`` choices ported from Faceswap 3 (default ``avg-color``)."""


class Adjustment:
    """A colour adjustment of the swapped face towards the original face.

    Subclasses implement :meth:`process`; :meth:`run` is what the converter calls.
    """

    def process(self, old_face: np.ndarray, new_face: np.ndarray,
                raw_mask: np.ndarray) -> np.ndarray:
        """Adjust the BGR ``new_face`` (``float32`` 0-1, ``(S, S, 3)``) towards ``old_face``
        (the original face at the same alignment) using ``raw_mask`` (``(S, S, 1)``, 0-1, the
        mask before erosion and the edge box)."""
        raise NotImplementedError

    def run(self, old_face: np.ndarray, new_face: np.ndarray,
            raw_mask: np.ndarray) -> np.ndarray:
        """Adjust channels 0-2 of ``new_face``, clip them to [0, 1] and put back a fourth (mask)
        channel if ``new_face`` has one."""
        mask_channel = new_face[..., 3:] if new_face.shape[-1] == 4 else None
        adjusted = self.process(old_face[..., :3], new_face[..., :3].copy(), raw_mask)
        adjusted = np.clip(adjusted, 0.0, 1.0).astype("float32")
        if mask_channel is not None:
            adjusted = np.concatenate([adjusted, mask_channel], axis=-1)
        return adjusted


def get_color(name: str) -> Adjustment | None:
    """The adjustment for a ``-c/--color-adjustment`` choice (``None`` for ``"none"``).

    Raises
    ------
    ValueError
        For a name that is not one of :data:`COLOR_CHOICES`.
    """
    if name not in COLOR_CHOICES:
        raise ValueError(f"Unknown colour adjustment {name!r}. Available: {COLOR_CHOICES}.")
    if name == "none":
        return None
    module = importlib.import_module(f"plugins.convert.color.{name.replace('-', '_')}")
    return module.Color()
