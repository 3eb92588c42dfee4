"""``opencv`` (the default writer): every converted frame as an image file,
``<output folder>/<frame stem>.<format>`` (faceswap_data.md §6.5; section ``writer.opencv``).

Each file is written atomically. With ``draw_transparent`` the converter hands over BGRA frames
(the swapped faces on a transparent layer) and the format is forced to ``png``; with
``separate_mask`` as well, the alpha goes to ``<output folder>/masks/<frame stem>.png`` (one
channel) and the frame keeps its three colour channels.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from lib.errors import FaceswapError
from lib.utils import write_atomic
from plugins.convert.writer import opencv_defaults as cfg
from plugins.convert.writer._base import Output

__all__ = ["Writer"]

logger = logging.getLogger(__name__)


class Writer(Output):
    """Write frames with ``cv2.imencode``.

    Parameters
    ----------
    output_folder
        Where the frames are written.
    format, jpg_quality, png_compress_level, draw_transparent, separate_mask
        The ``writer.opencv`` options; ``None`` reads them from ``convert.ini``.
    """

    def __init__(self, output_folder: str | Path, *, format: str | None = None,
                 jpg_quality: int | None = None, png_compress_level: int | None = None,
                 draw_transparent: bool | None = None, separate_mask: bool | None = None,
                 **_: object) -> None:
        super().__init__(output_folder)
        self.draw_transparent = bool(cfg.draw_transparent() if draw_transparent is None
                                     else draw_transparent)
        self.separate_mask = self.draw_transparent and bool(
            cfg.separate_mask() if separate_mask is None else separate_mask)
        self.format = (format or cfg.format()).lower()
        if self.draw_transparent and self.format != "png":
            logger.warning("draw_transparent writes PNG files (the format '%s' has no alpha "
                           "channel).", self.format)
            self.format = "png"
        if self.separate_mask:
            (self.output_folder / "masks").mkdir(exist_ok=True)
        quality = cfg.jpg_quality() if jpg_quality is None else jpg_quality
        level = cfg.png_compress_level() if png_compress_level is None else png_compress_level
        self.params = {"png": [cv2.IMWRITE_PNG_COMPRESSION, int(level)],
                       "jpg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)]}.get(self.format, [])

    def output_path(self, filename: str) -> Path:
        """``<output folder>/<frame stem>.<format>``."""
        return self.output_folder / f"{Path(filename).stem}.{self.format}"

    def write(self, filename: str, image: np.ndarray) -> None:
        if self.separate_mask and image.ndim == 3 and image.shape[2] == 4:
            self._write(self.output_folder / "masks" / f"{Path(filename).stem}.png",
                        np.ascontiguousarray(image[..., 3]), filename)
            image = np.ascontiguousarray(image[..., :3])
        self._write(self.output_path(filename), image, filename)

    def _write(self, path: Path, image: np.ndarray, filename: str) -> None:
        ok, encoded = cv2.imencode(f".{self.format}", image, self.params)
        if not ok:
            raise FaceswapError(f"OpenCV could not encode the frame '{filename}' as "
                                f"{self.format}.")
        write_atomic(path, encoded.tobytes())
