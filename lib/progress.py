"""Progress bars for long jobs (the learning-rate search, export), drawn by ``tqdm`` as Faceswap
draws its own.

:func:`progress` gives a ``tqdm`` bar on standard error that is drawn only when
:func:`progress_shown` says so: standard error is a terminal (not a pipe, a file or a test's
capture) and the log level lets INFO messages through (``-L WARNING`` and quieter hide the bars
with the messages). When hidden, the bar costs nothing and writes nothing, so output files never
depend on it.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

__all__ = ["progress", "progress_shown"]


def progress_shown(stream: TextIO | None = None) -> bool:
    """Whether a progress bar is drawn on ``stream`` (standard error when ``None``): it must be a
    terminal, and the root logger must let INFO messages through."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        terminal = bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        terminal = False
    return terminal and logging.getLogger().isEnabledFor(logging.INFO)


def progress(iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "",
             unit: str = "it", leave: bool = False, **kwargs: Any) -> tqdm:
    """A ``tqdm`` progress bar on standard error, drawn only when :func:`progress_shown`.

    Parameters
    ----------
    iterable, total, desc, unit, leave
        As ``tqdm`` takes them (the bar is cleared when done unless ``leave``).
    **kwargs
        Any other ``tqdm`` argument.
    """
    stream = sys.stderr
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream,
                disable=not progress_shown(stream), dynamic_ncols=True, **kwargs)
