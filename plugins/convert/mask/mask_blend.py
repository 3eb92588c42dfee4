"""Mask blending (section ``mask.mask_blend``; faceswap_data.md §6.3): the mask through which the
swapped face is composited into the frame.

The stored mask itself is retrieved by :class:`lib.align.aligned_mask.Mask.get_mask` with the
threshold and blur of :meth:`MaskBlend.stored_mask_options`, sub-cropped to the model's
centering and coverage; :meth:`MaskBlend.run` then resizes it to the model's output size,
erodes or dilates it and limits it to a blurred box that keeps the face's square edge out of
the frame.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from lib.align.aligned_mask import blur_mask
from plugins.convert.mask import mask_blend_defaults as cfg

__all__ = ["MaskBlend", "blur_by_ratio"]

_EROSION_OPTIONS = ("erosion", "erosion_left", "erosion_top", "erosion_right", "erosion_bottom")


def blur_by_ratio(mask: np.ndarray, ratio: float) -> np.ndarray:
    """One gaussian pass whose kernel is ``ratio`` percent of the mask's "diameter"
    ``sqrt(sum(mask))`` (Faceswap's ``BlurMask(..., is_ratio=True)``): radius
    ``round(max(1, diameter * ratio / 100))``, kernel ``2 * radius + 1``."""
    diameter = np.sqrt(np.sum(mask))
    radius = round(max(1.0, float(diameter) * ratio / 100.0))
    return blur_mask(mask, 2 * radius + 1, "gaussian", 1)


class MaskBlend:
    """The blend mask of each swapped face.

    Parameters
    ----------
    mask_type
        ``-M/--mask-type``: ``"none"`` (the whole square face, no box), ``"predicted"`` (the
        model's learned mask) or the name of a stored mask.
    output_size
        The side of the model's output face.
    **options
        Any of the ``mask.mask_blend`` options (``type``, ``kernel_size``, ``passes``,
        ``threshold``, ``erosion``, ``erosion_top``, ``erosion_bottom``, ``erosion_left``,
        ``erosion_right``); those not given are read from ``convert.ini``.
    """

    def __init__(self, mask_type: str, output_size: int, **options: Any) -> None:
        unknown = set(options) - {"type", "kernel_size", "passes", "threshold",
                                  *_EROSION_OPTIONS}
        if unknown:
            raise ValueError(f"Unknown mask_blend options: {sorted(unknown)}")
        self.mask_type = mask_type
        self.output_size = int(output_size)
        self.blur_type = str(options.get("type", cfg.type()))
        self.kernel_size = int(options.get("kernel_size", cfg.kernel_size()))
        self.passes = int(options.get("passes", cfg.passes()))
        self.threshold = int(options.get("threshold", cfg.threshold()))
        self.erosions = [float(options.get(name, getattr(cfg, name)())) / 100
                         for name in _EROSION_OPTIONS]
        self.box = self._get_box(self.output_size)

    def _get_box(self, size: int) -> np.ndarray:
        """Ones inside an edge of ``size // 32 + 1`` zero pixels, then (unless the blend type is
        ``none``) a gaussian blur of 6 % of its diameter."""
        box = np.zeros((size, size, 1), dtype="float32")
        edge = size // 32 + 1
        box[edge:-edge, edge:-edge] = 1.0
        if self.blur_type != "none":
            box = blur_by_ratio(box, 6)
        return box

    def stored_mask_options(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`lib.align.aligned_mask.Mask.get_mask` for a stored mask:
        the threshold and the blur (type, kernel at the stored size, passes); no dilation."""
        return {"threshold": self.threshold, "blur_kernel": self.kernel_size,
                "blur_type": self.blur_type, "blur_passes": self.passes}

    def run(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The blend mask and the raw mask (before erosion and the box), both ``float32``
        ``(output_size, output_size, 1)`` in [0, 1].

        Parameters
        ----------
        mask
            For a stored mask type: the ``uint8`` mask from
            :meth:`~lib.align.aligned_mask.Mask.get_mask` (any side; resized here with
            ``INTER_CUBIC`` to enlarge, ``INTER_AREA`` to shrink). For ``"predicted"``: the
            model's mask output, float 0-1 at the output size (blurred here). Ignored for
            ``"none"``.
        """
        if self.mask_type == "none":
            ones = np.ones_like(self.box)
            return ones, ones.copy()
        if mask is None:
            raise ValueError(f"Mask type {self.mask_type!r} needs a mask.")
        if self.mask_type == "predicted":
            raw = blur_mask(np.asarray(mask, "float32").reshape(self.box.shape),
                            self.kernel_size, self.blur_type, self.passes)
        else:
            raw = self._resize_stored(mask)
        eroded = self._erode(raw) if any(self.erosions) else raw
        return np.minimum(eroded, self.box), raw

    def _resize_stored(self, mask: np.ndarray) -> np.ndarray:
        side = mask.shape[0]
        if side != self.output_size:
            interpolation = cv2.INTER_CUBIC if side < self.output_size else cv2.INTER_AREA
            mask = cv2.resize(mask, (self.output_size, self.output_size),
                              interpolation=interpolation)
        return mask.reshape(self.box.shape).astype("float32") / 255.0

    def _erode(self, mask: np.ndarray) -> np.ndarray:
        """Erode (positive) or dilate (negative) by each erosion option, in the order centre,
        left, top, right, bottom. Kernel sides are ``int(|amount| * sqrt(sum(mask)) / 2)``: an
        ellipse for the centre, a square for the left (as Faceswap), a 1-pixel-wide vertical
        line for top and bottom and a 1-pixel-high horizontal line for the right, each
        directional kernel anchored at the end that makes it act on its own side only."""
        radius = np.sqrt(np.sum(mask)) / 2
        result = mask[..., 0]
        for index, amount in enumerate(self.erosions):
            size = max(0, int(abs(amount * radius)))
            if size == 0:
                continue
            ksize = [size, size]  # (width, height)
            if index > 1:  # top and bottom: 1 wide; right: 1 high
                ksize[0 if index % 2 == 0 else 1] = 1
            shape = cv2.MORPH_ELLIPSE if index == 0 else cv2.MORPH_RECT
            kernel = cv2.getStructuringElement(shape, tuple(ksize))
            anchor = [-1, -1]
            if index > 0:
                axis = 1 if index % 2 == 0 else 0  # top/bottom move the y anchor
                at_end = (index < 3) == (amount > 0)
                anchor[axis] = max(kernel.shape) - 1 if at_end else 0
            operation = cv2.erode if amount > 0 else cv2.dilate
            result = operation(result, kernel, iterations=1, anchor=tuple(anchor))
        return result[..., None]
