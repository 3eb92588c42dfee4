"""TensorBoard event files on every Keras backend, written through tensorboardX.

Training logs to TensorBoard under TensorFlow, JAX and PyTorch alike, so the writer must not
need TensorFlow to be the active backend (or TensorFlow at all). tensorboardX is the maintained
library for that: its protocol buffers (``Event``, ``Summary``), its image encoder and its
TFRecord framing (length and data, each with its masked CRC-32C) write the files. This module
adds what training needs around them: argument checks with clear messages, one file per writer
that is never shared or overwritten, thread safety, and explicit flushes that reach the disk.

Faceswap compat: Faceswap writes its logs through ``keras.callbacks.TensorBoard`` (TensorFlow) or
torch's ``SummaryWriter``. This writer gives the same scalar events on every backend, plus the
preview image at each save (Faceswap shows the preview in its GUI instead).
"""
from __future__ import annotations

import math
import operator
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tensorboardX.proto.summary_pb2 import Summary

__all__ = ["EventWriter"]

_FILE_VERSION = "brain.Event:2"
_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1
_FLOAT32_MAX = 3.4028234663852886e38
_CREATE_LOCK = threading.Lock()


def _library() -> Any:
    """tensorboardX, imported on first use: its package imports PyTorch when PyTorch is
    installed (seconds), which a process that never writes logs should not pay."""
    import tensorboardX.proto.event_pb2
    import tensorboardX.proto.summary_pb2
    import tensorboardX.record_writer
    import tensorboardX.summary
    return tensorboardX


def _check_tag(tag: Any) -> str:
    """Validate a tag."""
    if not isinstance(tag, str):
        raise TypeError(f"A scalar `tag` must be a str. Received: tag={tag!r} "
                        f"of type {type(tag).__name__}")
    if not tag:
        raise ValueError("A scalar `tag` must be a non-empty str. Received: tag=''")
    return tag


def _check_value(tag: str, value: Any) -> float:
    """Convert a scalar (Python/NumPy number, 0-d array or backend tensor) to a float32 value."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"The value for tag {tag!r} must be a number. Received: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"The value for tag {tag!r} must be a number or a single-element "
                        f"tensor. Received: {value!r} of type {type(value).__name__}") from err
    # Finite doubles beyond float32's range become inf, as a float32 cast makes them.
    if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        number = math.copysign(math.inf, number)
    return number


def _check_step(step: Any) -> int:
    """Validate a step: an integer (Python or NumPy) in int64 range."""
    if isinstance(step, bool):
        raise TypeError(f"`step` must be an int. Received: step={step!r}")
    try:
        number = operator.index(step)
    except TypeError as err:
        raise TypeError(f"`step` must be an int. Received: step={step!r} "
                        f"of type {type(step).__name__}") from err
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"`step` must fit in int64 [{_INT64_MIN}, {_INT64_MAX}]. "
                         f"Received: step={number}")
    return number


def _check_wall_time(wall_time: Any) -> float:
    """Seconds since the epoch: ``time.time()`` when ``None``."""
    if wall_time is None:
        return time.time()
    if isinstance(wall_time, (bool, str, bytes)):
        raise TypeError(f"`wall_time` must be a number of seconds or None. "
                        f"Received: wall_time={wall_time!r}")
    try:
        return float(wall_time)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`wall_time` must be a number of seconds or None. "
                        f"Received: wall_time={wall_time!r}") from err


def _check_image(tag: str, image: Any) -> np.ndarray:
    """An ``(height, width, 3)`` RGB ``uint8`` image (or float in [0, 1]) as ``uint8``."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(f"The image for tag {tag!r} must be (height, width, 3) RGB. "
                         f"Received shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"The image for tag {tag!r} must be uint8, or float in [0, 1]. "
                        f"Received dtype {array.dtype}")
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class EventWriter:
    """Write scalars and images to a TensorBoard event file (tensorboardX, no TensorFlow).

    Creates ``log_dir`` (with parents) and a new file
    ``events.out.tfevents.<int time>.<hostname>`` in it, whose first event carries
    ``file_version = "brain.Event:2"``. Each :meth:`add_scalar` / :meth:`add_scalars` call
    appends one ``Event`` with a ``Summary`` of ``simple_value`` entries (stored as float32),
    which TensorBoard shows as scalar charts; :meth:`add_image` appends a PNG image.

    Writes go through a buffered file: :meth:`flush` pushes them to disk (with ``os.fsync``) and
    :meth:`close` flushes and closes the file. The writer is also a context manager, and is safe
    to share between threads.

    If a file of that name already exists (two writers in one folder within the same second),
    a counter ``.1``, ``.2`` and so on is appended, so no file is ever overwritten or
    interleaved; TensorBoard reads every file whose name contains ``tfevents``.

    Parameters
    ----------
    log_dir
        Folder for the event file, for example ``<model_dir>/<name>_logs/session_<id>``.

    Raises
    ------
    TypeError
        If ``log_dir`` is not a ``str`` or path-like object.

    Examples
    --------
    >>> with EventWriter(tmp_path / "session_1") as writer:  # doctest: +SKIP
    ...     writer.add_scalar("batch_total", 0.25, step=1)
    ...     writer.add_scalars({"batch_face_a": 0.1, "batch_face_b": 0.15}, step=1)
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"`log_dir` must be a str or path-like object. Received: "
                            f"log_dir={log_dir!r} of type {type(log_dir).__name__}")
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        wall_time = time.time()
        self.path = self._reserve_file(
            f"events.out.tfevents.{int(wall_time)}.{socket.gethostname()}")
        # tensorboardX's writer opens the name we reserved (it truncates it: it is ours, empty).
        self._tbx = _library()
        self._records = self._tbx.record_writer.RecordWriter(str(self.path))
        self._records.write(self._tbx.proto.event_pb2.Event(
            wall_time=wall_time, file_version=_FILE_VERSION).SerializeToString())
        # An empty file is not a valid event file: make the header visible at once.
        self.flush()

    def _reserve_file(self, base: str) -> Path:
        """Create the event file exclusively (no other writer, in any process, can take the
        name), adding a counter suffix if the name is taken."""
        suffix = 0
        with _CREATE_LOCK:
            while True:
                path = self.log_dir / (base if suffix == 0 else f"{base}.{suffix}")
                try:
                    with open(path, "xb"):
                        return path
                except FileExistsError:
                    suffix += 1

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def add_scalar(self, tag: str, value: Any, step: int, wall_time: float | None = None
                   ) -> None:
        """Append one scalar event.

        Parameters
        ----------
        tag
            Chart name, e.g. ``"batch_total"``.
        value
            A number: Python or NumPy scalar, 0-d array or single-element backend tensor.
            Stored as float32 (finite values beyond float32's range become ``±inf``).
        step
            Global step (int64) the value belongs to.
        wall_time
            Seconds since the epoch; ``time.time()`` when ``None``.

        Raises
        ------
        TypeError
            If ``tag`` is not a ``str``, ``value`` is not a number or ``step`` is not an int.
        ValueError
            If ``tag`` is empty, ``step`` is outside int64, or the writer is closed.
        """
        self.add_scalars({tag: value}, step, wall_time=wall_time)

    def add_scalars(self, scalars: Mapping[str, Any], step: int,
                    wall_time: float | None = None) -> None:
        """Append one event holding several scalars, all at the same step.

        Parameters
        ----------
        scalars
            Non-empty mapping of tag to value (see :meth:`add_scalar` for what values may be).
        step
            Global step (int64) the values belong to.
        wall_time
            Seconds since the epoch; ``time.time()`` when ``None``.

        Raises
        ------
        TypeError
            If ``scalars`` is not a mapping, or a tag, value or ``step`` has the wrong type.
        ValueError
            If ``scalars`` is empty, a tag is empty, ``step`` is outside int64, or the writer is
            closed.
        """
        if not isinstance(scalars, Mapping):
            raise TypeError(f"`scalars` must be a mapping of tag to value. Received: "
                            f"{scalars!r} of type {type(scalars).__name__}")
        if not scalars:
            raise ValueError("`scalars` must hold at least one tag. Received: an empty mapping")
        summary = self._tbx.proto.summary_pb2.Summary
        values = []
        for tag, value in scalars.items():
            tag = _check_tag(tag)
            values.append(summary.Value(tag=tag, simple_value=_check_value(tag, value)))
        self._write(summary(value=values), step, wall_time)

    def add_image(self, tag: str, image: Any, step: int, wall_time: float | None = None
                  ) -> None:
        """Append one image event (PNG-encoded, shown in TensorBoard's Images tab).

        Parameters
        ----------
        tag
            Image name, e.g. ``"preview"``.
        image
            ``(height, width, 3)`` RGB, ``uint8`` or float in [0, 1].
        step
            Global step (int64) the image belongs to.
        wall_time
            Seconds since the epoch; ``time.time()`` when ``None``.

        Raises
        ------
        TypeError
            If ``tag`` is not a ``str``, the image's dtype is neither uint8 nor float, or
            ``step`` is not an int.
        ValueError
            If ``tag`` is empty, the image is not ``(height, width, 3)``, ``step`` is outside
            int64, or the writer is closed.
        """
        tag = _check_tag(tag)
        summary = self._tbx.summary.image(tag, _check_image(tag, image), dataformats="HWC")
        self._write(summary, step, wall_time)

    def _write(self, summary: Summary, step: Any, wall_time: Any) -> None:
        event = self._tbx.proto.event_pb2.Event(
            wall_time=_check_wall_time(wall_time), step=_check_step(step), summary=summary)
        record = event.SerializeToString()
        with self._lock:
            self._check_open()
            self._records.write(record)

    def flush(self) -> None:
        """Write buffered events to the file and ``os.fsync`` it; a no-op once closed."""
        with self._lock:
            if self._closed:
                return
            self._records.flush()

    def close(self) -> None:
        """Flush and close the file. Calling it again does nothing. The file is closed even when
        the flush fails (a full disk): the error is raised once it is."""
        try:
            self.flush()
        finally:
            with self._lock:
                if not self._closed:
                    self._closed = True
                    self._records.close()

    def _check_open(self) -> None:
        """Refuse writes after :meth:`close`."""
        if self._closed:
            raise ValueError(f"This EventWriter is closed; no more events can be written to "
                             f"'{self.path}'. Create a new EventWriter.")

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventWriter(path='{self.path}', closed={self.closed})"
