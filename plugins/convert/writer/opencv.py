"""``opencv`` (the default writer): every converted frame as an image file,
``<output folder>/<frame stem>.<format>`` (faceswap_data.md §6.5; section ``writer.opencv``).

Each file is written atomically. ``draw_transparent`` and ``separate_mask`` need the converter's
4-channel output, which :mod:`plugins.convert.frame_convert` does not produce yet: they are
refused rather than ignored.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lib.errors import FaceswapError
from lib.utils import write_atomic
from plugins.convert.writer import opencv_defaults as cfg
from plugins.convert.writer._base import Output

__all__ = ["Writer"]


class Writer(Output):
    """Write frames with ``cv2.imencode``.

    Parameters
    ----------
    output_folder
        Where the frames are written.
    format, jpg_quality, png_compress_level, draw_transparent
        The ``writer.opencv`` options; ``None`` reads them from ``convert.ini``.
    """

    def __init__(self, output_folder: str | Path, *, format: str | None = None,
                 jpg_quality: int | None = None, png_compress_level: int | None = None,
                 draw_transparent: bool | None = None, **_: object) -> None:
        super().__init__(output_folder)
        if draw_transparent if draw_transparent is not None else cfg.draw_transparent():
            raise FaceswapError("The opencv writer's draw_transparent option is not supported "
                                "yet. Set it to False in convert.ini.")
        self.format = (format or cfg.format()).lower()
        quality = cfg.jpg_quality() if jpg_quality is None else jpg_quality
        level = cfg.png_compress_level() if png_compress_level is None else png_compress_level
        self.params = {"png": [cv2.IMWRITE_PNG_COMPRESSION, int(level)],
                       "jpg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)]}.get(self.format, [])

    def output_path(self, filename: str) -> Path:
        """``<output folder>/<frame stem>.<format>``."""
        return self.output_folder / f"{Path(filename).stem}.{self.format}"

    def write(self, filename: str, image: np.ndarray) -> None:
        ok, encoded = cv2.imencode(f".{self.format}", image, self.params)
        if not ok:
            raise FaceswapError(f"OpenCV could not encode the frame '{filename}' as "
                                f"{self.format}.")
        write_atomic(self.output_path(filename), encoded.tobytes())
