"""The training preview: per side, rows of original / reconstruction / swap faces."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from lib.utils import atomic_replace, get_module_objects

if TYPE_CHECKING:
    from plugins.train.model._base import ModelBase

_MIN_FACE = 128
_HEADER = 24
_TITLES = {"a": ("Original (A)", "Original > Original", "Original > Swap"),
           "b": ("Original (B)", "Original > Original", "Original > Swap")}


def _hex_to_bgr(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    red, green, blue = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return blue, green, red


def _split(outputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    half = len(outputs) // 2
    return outputs[:half], outputs[half:]


def _face_and_mask(side_outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """The side's last face output (the largest, for multi-scale decoders) and its learned mask
    (a one-channel output), if any."""
    faces = [out for out in side_outputs if out.shape[-1] != 1]
    masks = [out for out in side_outputs if out.shape[-1] == 1]
    return faces[-1], (masks[-1] if masks else None)


def _to_bgr_uint8(images: np.ndarray, color_order: str, size: int) -> np.ndarray:
    images = images[..., :3]
    if color_order == "rgb":
        images = images[..., ::-1]
    out = np.clip(images * 255.0 + 0.5, 0, 255).astype("uint8")
    if out.shape[1] != size:
        out = np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
                        for img in out])
    return out


def _tint(faces: np.ndarray, masks: np.ndarray | None, size: int) -> np.ndarray:
    """Tint the area outside a learned mask with the configured colour and opacity."""
    from plugins.train.trainer import trainer_config
    opacity = trainer_config.mask_opacity() / 100.0
    if masks is None or opacity <= 0:
        return faces
    color = np.array(_hex_to_bgr(trainer_config.mask_color()), dtype="float32")
    resized = np.stack([cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
                        for mask in masks[..., 0]])[..., None]
    weight = (1.0 - np.clip(resized, 0, 1)) * opacity
    return np.clip(faces * (1 - weight) + color * weight + 0.5, 0, 255).astype("uint8")


def _panel(columns: list[np.ndarray], titles: tuple[str, ...], size: int) -> np.ndarray:
    rows = columns[0].shape[0]
    panel = np.full((_HEADER + rows * size, len(columns) * size, 3), 255, dtype="uint8")
    for col, (images, title) in enumerate(zip(columns, titles, strict=True)):
        panel[_HEADER:, col * size:(col + 1) * size] = images.reshape(rows * size, size, 3)
        scale = 0.4 if size <= 128 else 0.55
        (width, _), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(panel, title, (col * size + max(2, (size - width) // 2), _HEADER - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def compose_preview(model: ModelBase, samples: dict[str, tuple[np.ndarray, np.ndarray]]
                    ) -> np.ndarray:
    """The preview image (BGR uint8): the side A panel beside the side B panel, each with one
    row per face: the original, its reconstruction by its own decoder, and the swap through the
    other side's decoder. A learned mask tints what lies outside it.

    Parameters
    ----------
    model
        The model plugin (built).
    samples
        Per side ``(inputs (n, I, I, 3), faces (n, S, S, 4))`` float32 in [0, 1], from
        ``Feeder.generate_preview``.
    """
    count = min(len(samples["a"][0]), len(samples["b"][0]))
    feed_a, feed_b = samples["a"][0][:count], samples["b"][0][:count]
    recon = [np.asarray(out) for out in model.model.predict([feed_a, feed_b], verbose=0)]
    swap = [np.asarray(out) for out in model.model.predict([feed_b, feed_a], verbose=0)]
    recon_a, recon_b = _split(recon)
    swap_b_to_a, swap_a_to_b = _split(swap)
    size = max(_MIN_FACE, samples["a"][1].shape[1])
    order = model.color_order
    panels = []
    for side, own, other in (("a", recon_a, swap_a_to_b), ("b", recon_b, swap_b_to_a)):
        original = _to_bgr_uint8(samples[side][1][:count], order, size)
        columns = [original]
        for outputs in (own, other):
            face, mask = _face_and_mask(outputs)
            columns.append(_tint(_to_bgr_uint8(face, order, size), mask, size))
        panels.append(_panel(columns, _TITLES[side], size))
    gap = np.full((panels[0].shape[0], 8, 3), 255, dtype="uint8")
    return np.concatenate([panels[0], gap, panels[1]], axis=1)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a PNG atomically."""
    success, data = cv2.imencode(".png", image)
    if not success:
        raise OSError(f"Could not encode the image for '{path}'.")
    with atomic_replace(path, suffix=".png") as temp:
        Path(temp).write_bytes(data.tobytes())


__all__ = get_module_objects(__name__)
