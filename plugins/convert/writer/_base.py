"""The base of the frame writers and the loader of ``-w/--writer`` choices."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

__all__ = ["WRITER_CHOICES", "Output", "get_writer"]

WRITER_CHOICES = ["ffmpeg", "opencv"]
"""The ``-w/--writer`` choices ported from Faceswap 3 (default ``opencv``)."""


class Output:
    """A writer of converted frames, in the order they are given.

    Parameters
    ----------
    output_folder
        Where the frames (or the video) are written; created when missing.
    """

    draw_transparent = False
    """Whether the frames to write are the swapped faces on a transparent layer (BGRA)."""

    def __init__(self, output_folder: str | Path) -> None:
        self.output_folder = Path(output_folder)
        self.output_folder.mkdir(parents=True, exist_ok=True)

    def write(self, filename: str, image: np.ndarray) -> None:
        """Write one converted BGR ``uint8`` frame (BGRA with :attr:`draw_transparent`);
        ``filename`` is the source frame's name."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish writing (a video is only complete after this)."""

    def __enter__(self) -> Output:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close()


def get_writer(name: str) -> type[Output]:
    """The writer class of a ``-w/--writer`` choice.

    Raises
    ------
    ValueError
        For a name that is not one of :data:`WRITER_CHOICES`.
    """
    if name not in WRITER_CHOICES:
        raise ValueError(f"Unknown writer {name!r}. Available: {WRITER_CHOICES}.")
    return importlib.import_module(f"plugins.convert.writer.{name}").Writer
