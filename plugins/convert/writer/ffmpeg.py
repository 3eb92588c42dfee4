"""``ffmpeg``: the converted frames as one video, with the input's (or the reference video's)
frame rate and the audio of the source video copied in (section ``writer.ffmpeg``).

The video is ``<output folder>/<source stem>_converted.<container>`` and appears only once it is
complete (see :class:`lib.video.VideoWriter`).
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from lib.video import VideoWriter
from plugins.convert.writer import ffmpeg_defaults as cfg
from plugins.convert.writer._base import Output

__all__ = ["Writer"]


class Writer(Output):
    """Write frames to a video.

    Parameters
    ----------
    output_folder
        Where the video is written.
    fps
        The frame rate: the input video's, or the reference video's for a folder of frames.
    source
        The input video (or ``-r/--reference-video`` for frames): it names the output and its
        audio is copied in unless ``skip_mux``; ``None`` for a silent video named
        ``converted``.
    **options
        Any ``writer.ffmpeg`` option (``container``, ``codec``, ``crf``, ``preset``, ``tune``,
        ``profile``, ``level``, ``skip_mux``); the others are read from ``convert.ini``.

    The frame size is that of the first frame written.
    """

    def __init__(self, output_folder: str | Path, *, fps: Fraction | float,
                 source: str | Path | None = None, **options: object) -> None:
        super().__init__(output_folder)
        names = ("container", "codec", "crf", "preset", "tune", "profile", "level", "skip_mux")
        unknown = set(options) - set(names)
        if unknown:
            raise ValueError(f"Unknown writer.ffmpeg options: {sorted(unknown)}")
        values = {name: options.get(name, getattr(cfg, name)()) for name in names}
        stem = Path(source).stem if source is not None else "converted"
        self.path = self.output_folder / f"{stem}_converted.{values.pop('container')}"
        self.fps = fps
        self._reference = None if values.pop("skip_mux") or source is None else Path(source)
        self._options = values
        self._video: VideoWriter | None = None

    def write(self, filename: str, image: np.ndarray) -> None:
        if self._video is None:
            self._video = VideoWriter(self.path, self.fps, (image.shape[1], image.shape[0]),
                                      reference=self._reference, **self._options)
        self._video.write(image)

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._video is not None:
            self._video.__exit__(exc_type, exc, traceback)
