"""TensorBoard event-file writer with no TensorFlow or protobuf dependency.

Training must log to TensorBoard on every Keras backend, including machines where TensorFlow is
not installed. TensorBoard reads ``events.out.tfevents.*`` files: a sequence of TFRecords, each
holding one serialised ``tensorflow.Event`` protocol buffer. Scalars need only a handful of
protobuf fields, so they are encoded here by hand, and the records are checksummed with a
pure-Python CRC-32C.

Faceswap compat: Faceswap writes its logs through ``keras.callbacks.TensorBoard`` (TensorFlow) or
torch's ``SummaryWriter``. This writer produces the same scalar events with neither dependency; it
writes scalars only (no graph, histograms or images).
"""
from __future__ import annotations

import math
import operator
import os
import socket
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

__all__ = ["EventWriter"]

_FILE_VERSION = "brain.Event:2"
_CRC_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF
_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


def _make_crc32c_table() -> tuple[int, ...]:
    """Byte table for the reflected Castagnoli polynomial (0x1EDC6F41, reversed 0x82F63B78)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord framing uses it."""
    table = _CRC32C_TABLE
    crc = _UINT32
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _UINT32


def _masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits, then add a constant (mod 2**32)."""
    crc = _crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _UINT32) + _CRC_MASK_DELTA) & _UINT32


def _frame_record(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", _masked_crc32c(length)),
                     data, struct.pack("<I", _masked_crc32c(data))))


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 values take ten bytes (two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    """Protobuf field key: field number and wire type."""
    return _varint((field << 3) | wire_type)


def _length_delimited(field: int, payload: bytes) -> bytes:
    """A wire-type-2 field (string, bytes or embedded message)."""
    return _key(field, 2) + _varint(len(payload)) + payload


def _encode_value(tag: str, value: float) -> bytes:
    """``Summary.Value`` with ``tag`` (field 1) and ``simple_value`` (field 2, float)."""
    # simple_value sits in a oneof, so it is written even when it equals 0.0.
    return _length_delimited(1, tag.encode("utf-8")) + _key(2, 5) + struct.pack("<f", value)


def _encode_event(wall_time: float, step: int = 0, *, file_version: str | None = None,
                  values: Mapping[str, float] | None = None) -> bytes:
    """``Event`` with wall_time (1, double), step (2, int64), file_version (3) or summary (5).

    Fields are written in field-number order and proto3 defaults (step 0) are left out, which
    is what a protobuf library emits for the same message.
    """
    parts = [_key(1, 1) + struct.pack("<d", wall_time)]
    if step:
        parts.append(_key(2, 0) + _varint(step))
    if file_version is not None:
        parts.append(_length_delimited(3, file_version.encode("utf-8")))
    if values is not None:
        summary = b"".join(_length_delimited(1, _encode_value(tag, value))
                           for tag, value in values.items())
        parts.append(_length_delimited(5, summary))
    return b"".join(parts)


def _check_tag(tag: Any) -> str:
    """Validate a scalar tag."""
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
    # struct refuses finite doubles beyond float32's range; float32 casting makes them inf.
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


class EventWriter:
    """Write scalar summaries to a TensorBoard event file, without TensorFlow.

    Creates ``log_dir`` (with parents) and a new file
    ``events.out.tfevents.<int time>.<hostname>`` in it, whose first event carries
    ``file_version = "brain.Event:2"``. Each :meth:`add_scalar` / :meth:`add_scalars` call
    appends one ``Event`` with a ``Summary`` of ``simple_value`` entries, which TensorBoard shows
    as scalar charts. Values are stored as float32, as TensorBoard does.

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
        wall_time = time.time()
        base = f"events.out.tfevents.{int(wall_time)}.{socket.gethostname()}"
        self.path, self._file = self._create_file(base)
        self._file.write(_frame_record(_encode_event(wall_time, file_version=_FILE_VERSION)))
        # An empty file is not a valid event file: make the header visible at once.
        self.flush()

    def _create_file(self, base: str) -> tuple[Path, BinaryIO]:
        """Create the event file exclusively, adding a counter suffix if the name is taken."""
        suffix = 0
        while True:
            path = self.log_dir / (base if suffix == 0 else f"{base}.{suffix}")
            try:
                return path, open(path, "xb")
            except FileExistsError:
                suffix += 1

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._file.closed

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
        values = {}
        for tag, value in scalars.items():
            tag = _check_tag(tag)
            values[tag] = _check_value(tag, value)
        record = _frame_record(_encode_event(_check_wall_time(wall_time), _check_step(step),
                                             values=values))
        with self._lock:
            self._check_open()
            self._file.write(record)

    def flush(self) -> None:
        """Write buffered events to the file and ``os.fsync`` it; a no-op once closed."""
        with self._lock:
            if self._file.closed:
                return
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush and close the file. Calling it again does nothing."""
        self.flush()
        with self._lock:
            self._file.close()

    def _check_open(self) -> None:
        """Refuse writes after :meth:`close`."""
        if self._file.closed:
            raise ValueError(f"This EventWriter is closed; no more events can be written to "
                             f"'{self.path}'. Create a new EventWriter.")

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventWriter(path='{self.path}', closed={self.closed})"
