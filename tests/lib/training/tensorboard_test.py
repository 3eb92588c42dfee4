"""Tests for lib.training.tensorboard: CRC-32C, protobuf encoding and TFRecord event files.

The file format is checked twice: by a small independent reader in this file (TFRecord framing,
both CRCs recomputed with a bit-by-bit CRC-32C, protobuf fields decoded by wire type), so the
tests mean something without TensorFlow, and by TensorFlow's own ``summary_iterator`` when it is
installed.
"""
from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from lib.training import tensorboard as tb
from lib.training.tensorboard import EventWriter

# --------------------------------------------------------------------------------------------
# An independent reader: bitwise CRC-32C, TFRecord framing and a generic protobuf decoder.
# --------------------------------------------------------------------------------------------


def _bitwise_crc32c(data: bytes) -> int:
    """CRC-32C one bit at a time (no table), as a reference for the table-driven version."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    rotated = ((crc >> 15) | (crc << 17)) % 2 ** 32
    return (rotated + 0xA282EAD8) % 2 ** 32


def _read_records(path: Path) -> list[bytes]:
    """Split a TFRecord file into payloads, checking both CRCs of every record."""
    blob = path.read_bytes()
    records, pos = [], 0
    while pos < len(blob):
        assert len(blob) - pos >= 12, "truncated record header"
        length_bytes = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        assert length_crc == _masked(_bitwise_crc32c(length_bytes))
        data = blob[pos + 12:pos + 12 + length]
        assert len(data) == length, "truncated record data"
        (data_crc,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        assert data_crc == _masked(_bitwise_crc32c(data))
        records.append(data)
        pos += 16 + length
    return records


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            return value, pos


def _decode_message(data: bytes) -> dict[int, list]:
    """Protobuf message as {field number: [raw values]}: ints, 8/4 raw bytes or payload bytes."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
        elif wire_type == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire_type == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
        fields.setdefault(field, []).append(value)
    assert pos == len(data)
    return fields


def _decode_event(data: bytes) -> dict:
    """The Event fields this writer uses, as Python values."""
    fields = _decode_message(data)
    assert set(fields) <= {1, 2, 3, 5}, f"unexpected Event fields {sorted(fields)}"
    event = {"wall_time": struct.unpack("<d", fields[1][0])[0]}
    step = fields.get(2, [0])[0]
    event["step"] = step - 2 ** 64 if step >= 2 ** 63 else step
    if 3 in fields:
        event["file_version"] = fields[3][0].decode("utf-8")
    if 5 in fields:
        summary = _decode_message(fields[5][0])
        assert set(summary) == {1}
        values = []
        for raw in summary[1]:
            value = _decode_message(raw)
            assert set(value) == {1, 2}
            values.append((value[1][0].decode("utf-8"), struct.unpack("<f", value[2][0])[0]))
        event["values"] = values
    return event


def _read_events(path: Path) -> list[dict]:
    return [_decode_event(record) for record in _read_records(path)]


def _event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events.out.tfevents.*"))


# --------------------------------------------------------------------------------------------
# CRC-32C and encoding
# --------------------------------------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),                       # the standard check value
    (bytes(32), 0x8A9136AA),                          # RFC 3720 B.4: 32 bytes of zeros
    (b"\xff" * 32, 0x62A8AB43),                       # RFC 3720 B.4: 32 bytes of 0xFF
    (bytes(range(32)), 0x46DD794E),                   # RFC 3720 B.4: incrementing
    (bytes(range(31, -1, -1)), 0x113FDB5C),           # RFC 3720 B.4: decrementing
])
def test_crc32c_known_vectors(data, expected):
    assert tb._crc32c(data) == expected


@pytest.mark.smoke
def test_crc32c_table_and_bitwise_reference_agree():
    assert len(tb._CRC32C_TABLE) == 256
    assert tb._CRC32C_TABLE[1] == 0xF26B8303
    rng = np.random.default_rng(0)
    for size in (1, 7, 100, 1000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert tb._crc32c(data) == _bitwise_crc32c(data)


@pytest.mark.smoke
def test_masked_crc32c():
    # crc(b"") == 0: rotation leaves 0, so the mask is the constant alone.
    assert tb._masked_crc32c(b"") == 0xA282EAD8
    # 0xE3069283 rotated right by 15 bits is 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5 (mod 2**32).
    assert tb._masked_crc32c(b"123456789") == 0xC78AB0E5
    # The addition wraps: 0xFFFFFFFF rotated is 0xFFFFFFFF; + 0xA282EAD8 wraps to 0xA282EAD7.
    data = b"\xff" * 4  # crc32c(ffffffff) = 0xFFFFFFFF
    assert tb._crc32c(data) == 0xFFFFFFFF
    assert tb._masked_crc32c(data) == 0xA282EAD7


@pytest.mark.smoke
@pytest.mark.parametrize(("value", "expected"), [
    (0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
    (16384, b"\x80\x80\x01"), (2 ** 63 - 1, b"\xff" * 8 + b"\x7f"),
    (-1, b"\xff" * 9 + b"\x01"), (-(2 ** 63), b"\x80" * 9 + b"\x01"),
])
def test_varint(value, expected):
    assert tb._varint(value) == expected


@pytest.mark.smoke
def test_frame_record_layout():
    # Length 3 as uint64 LE, its masked CRC, the data, the data's masked CRC (from the vectors
    # above, computed independently with the bitwise reference).
    record = tb._frame_record(b"abc")
    length = b"\x03" + bytes(7)
    assert record == (length + struct.pack("<I", _masked(_bitwise_crc32c(length))) + b"abc"
                      + struct.pack("<I", _masked(_bitwise_crc32c(b"abc"))))
    assert len(record) == 8 + 4 + 3 + 4


@pytest.mark.smoke
def test_encode_value_bytes():
    # Value: key(1, LEN)=0x0a, len 1, "a"; key(2, I32)=0x15, float32 1.0 = 00 00 80 3f.
    assert tb._encode_value("a", 1.0) == b"\x0a\x01a\x15\x00\x00\x80\x3f"
    # simple_value is in a oneof: 0.0 is still written.
    assert tb._encode_value("loss", 0.0) == b"\x0a\x04loss\x15\x00\x00\x00\x00"


@pytest.mark.smoke
def test_encode_event_bytes():
    wall = b"\x09\x00\x00\x00\x00\x00\x00\xf8\x3f"  # key(1, I64)=0x09, double 1.5
    # File-version event: wall_time, key(3, LEN)=0x1a, len 13, "brain.Event:2"; step 0 omitted.
    assert (tb._encode_event(1.5, file_version="brain.Event:2")
            == wall + b"\x1a\x0dbrain.Event:2")
    # Scalar event: wall_time, key(2, VARINT)=0x10 step 300 = ac 02, key(5, LEN)=0x2a, len 20,
    # Summary with two Values (key(1, LEN)=0x0a, len 8 each).
    value_a = b"\x0a\x01a\x15\x00\x00\x80\x3f"    # a = 1.0
    value_b = b"\x0a\x01b\x15\x00\x00\x00\xc0"    # b = -2.0
    expected = (wall + b"\x10\xac\x02" + b"\x2a\x14" + b"\x0a\x08" + value_a
                + b"\x0a\x08" + value_b)
    assert tb._encode_event(1.5, 300, values={"a": 1.0, "b": -2.0}) == expected
    # A negative step is a ten-byte two's-complement varint.
    assert tb._encode_event(1.5, -1, values={"a": 1.0}).startswith(
        wall + b"\x10" + b"\xff" * 9 + b"\x01")


# --------------------------------------------------------------------------------------------
# EventWriter
# --------------------------------------------------------------------------------------------


@pytest.mark.smoke
def test_writer_creates_folder_and_named_file(tmp_path):
    log_dir = tmp_path / "model_logs" / "session_1"
    before = int(time.time())
    with EventWriter(str(log_dir)) as writer:
        after = int(time.time())
        assert log_dir.is_dir()
        assert writer.log_dir == log_dir
        assert _event_files(log_dir) == [writer.path]
    match = re.fullmatch(r"events\.out\.tfevents\.(\d+)\.(.+)", writer.path.name)
    assert match is not None, writer.path.name
    assert before <= int(match.group(1)) <= after
    assert match.group(2) == socket.gethostname()


@pytest.mark.smoke
def test_header_event_is_file_version(tmp_path):
    before = time.time()
    writer = EventWriter(tmp_path)
    after = time.time()
    # The header is on disk before any flush or close.
    events = _read_events(writer.path)
    writer.close()
    assert len(events) == 1
    assert events[0]["file_version"] == "brain.Event:2"
    assert events[0]["step"] == 0
    assert "values" not in events[0]
    assert before <= events[0]["wall_time"] <= after


@pytest.mark.smoke
def test_scalars_read_back_with_own_reader(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.add_scalar("batch_total", 0.1, step=1, wall_time=1000.25)
        writer.add_scalars({"batch_face_a": 0.0, "batch_face_b": -3.5e-3}, step=2,
                           wall_time=1001.5)
        writer.add_scalar("big", 7, step=2 ** 40, wall_time=1002.0)
        writer.add_scalar("neg_step", 1.5, step=-3, wall_time=1003.0)
        before = time.time()
        writer.add_scalar("now", 2.0, step=5)
        after = time.time()
        path = writer.path
    events = _read_events(path)
    assert len(events) == 6
    assert events[0]["file_version"] == "brain.Event:2"
    assert [event["step"] for event in events[1:]] == [1, 2, 2 ** 40, -3, 5]
    assert [event["wall_time"] for event in events[1:5]] == [1000.25, 1001.5, 1002.0, 1003.0]
    assert before <= events[5]["wall_time"] <= after
    assert all("file_version" not in event for event in events[1:])
    # Values are stored as float32: compare with NumPy's float32 rounding.
    assert events[1]["values"] == [("batch_total", float(np.float32(0.1)))]
    assert events[2]["values"] == [("batch_face_a", 0.0),
                                   ("batch_face_b", float(np.float32(-3.5e-3)))]
    assert events[3]["values"] == [("big", 7.0)]
    assert events[4]["values"] == [("neg_step", 1.5)]


@pytest.mark.smoke
def test_value_conversions(tmp_path):
    tensor = keras.ops.convert_to_tensor(0.75, dtype="float32")
    with EventWriter(tmp_path) as writer:
        writer.add_scalars({"np32": np.float32(0.5), "np0d": np.array(1.25),
                            "tensor": tensor, "int": np.int64(3), "huge": 1e40,
                            "neg_huge": -1e300, "inf": float("inf"), "nan": float("nan")},
                           step=np.int32(4))
        path = writer.path
    event = _read_events(path)[1]
    assert event["step"] == 4
    values = dict(event["values"])
    assert list(values) == ["np32", "np0d", "tensor", "int", "huge", "neg_huge", "inf", "nan"]
    assert values["np32"] == 0.5
    assert values["np0d"] == 1.25
    assert values["tensor"] == 0.75
    assert values["int"] == 3.0
    assert values["huge"] == float("inf")        # float32 overflow, as NumPy casting gives
    assert values["neg_huge"] == float("-inf")
    assert values["inf"] == float("inf")
    assert np.isnan(values["nan"])


@pytest.mark.smoke
def test_writes_are_buffered_until_flush(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    writer = EventWriter(tmp_path)
    header_size = writer.path.stat().st_size
    synced.clear()
    writer.add_scalar("loss", 1.0, step=1)
    assert writer.path.stat().st_size == header_size      # still in the buffer
    assert len(_read_events(writer.path)) == 1
    writer.flush()
    assert len(synced) == 1                                # flush() reaches the disk via fsync
    assert writer.path.stat().st_size > header_size
    assert _read_events(writer.path)[1]["values"] == [("loss", 1.0)]
    writer.add_scalar("loss", 2.0, step=2)
    writer.close()
    assert len(synced) == 2                                # close() flushes too
    assert [event["step"] for event in _read_events(writer.path)] == [0, 1, 2]


@pytest.mark.smoke
def test_close_is_idempotent_and_blocks_writes(tmp_path):
    with EventWriter(tmp_path) as writer:
        assert not writer.closed
        writer.add_scalar("loss", 1.0, step=1)
    assert writer.closed
    writer.close()
    writer.flush()  # no-op once closed
    assert "closed=True" in repr(writer)
    with pytest.raises(ValueError, match="closed"):
        writer.add_scalar("loss", 2.0, step=2)
    assert len(_read_events(writer.path)) == 2


@pytest.mark.smoke
def test_context_manager_closes_on_error(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with EventWriter(tmp_path) as writer:
            writer.add_scalar("loss", 1.0, step=1)
            raise RuntimeError("boom")
    assert writer.closed
    assert [event["step"] for event in _read_events(writer.path)] == [0, 1]


@pytest.mark.smoke
def test_two_writers_in_the_same_second_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.5)
    with EventWriter(tmp_path) as first, EventWriter(tmp_path) as second:
        first.add_scalar("a", 1.0, step=1)
        second.add_scalar("b", 2.0, step=1)
    assert first.path != second.path
    assert first.path.name == f"events.out.tfevents.1700000000.{socket.gethostname()}"
    assert second.path.name == first.path.name + ".1"
    assert _read_events(first.path)[1]["values"] == [("a", 1.0)]
    assert _read_events(second.path)[1]["values"] == [("b", 2.0)]


@pytest.mark.smoke
def test_concurrent_writers_keep_records_whole(tmp_path):
    writer = EventWriter(tmp_path)

    def work(index):
        for step in range(50):
            writer.add_scalar(f"thread_{index}", float(step), step=step)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    events = _read_events(writer.path)[1:]
    assert len(events) == 200
    for index in range(4):
        steps = [event["step"] for event in events
                 if event["values"][0][0] == f"thread_{index}"]
        assert steps == list(range(50))


@pytest.mark.smoke
@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda w: w.add_scalar(3, 1.0, step=1), TypeError, "tag.*must be a str"),
    (lambda w: w.add_scalar("", 1.0, step=1), ValueError, "non-empty"),
    (lambda w: w.add_scalar("a", "1.0", step=1), TypeError, "must be a number"),
    (lambda w: w.add_scalar("a", [1.0, 2.0], step=1), TypeError, "must be a number"),
    (lambda w: w.add_scalar("a", 1.0, step=1.0), TypeError, "`step` must be an int"),
    (lambda w: w.add_scalar("a", 1.0, step=True), TypeError, "`step` must be an int"),
    (lambda w: w.add_scalar("a", 1.0, step=2 ** 63), ValueError, "int64"),
    (lambda w: w.add_scalar("a", 1.0, step=1, wall_time="now"), TypeError, "wall_time"),
    (lambda w: w.add_scalars([("a", 1.0)], step=1), TypeError, "mapping"),
    (lambda w: w.add_scalars({}, step=1), ValueError, "at least one"),
])
def test_invalid_arguments(tmp_path, call, error, match):
    with EventWriter(tmp_path) as writer:
        with pytest.raises(error, match=match):
            call(writer)
    # Nothing was written by the failed call.
    assert len(_read_events(writer.path)) == 1


@pytest.mark.smoke
def test_invalid_log_dir():
    with pytest.raises(TypeError, match="log_dir"):
        EventWriter(42)


# --------------------------------------------------------------------------------------------
# TensorFlow as the reference reader
# --------------------------------------------------------------------------------------------


def test_tensorflow_reads_the_file(tmp_path):
    tf = pytest.importorskip("tensorflow")
    with EventWriter(tmp_path) as writer:
        writer.add_scalar("batch_total", 0.1, step=1, wall_time=1000.25)
        writer.add_scalars({"batch_face_a": 0.0, "batch_face_b": 2.5}, step=2,
                           wall_time=1001.5)
        writer.add_scalar("batch_total", -4.0, step=2 ** 40, wall_time=1002.0)
        path = writer.path
    events = list(tf.compat.v1.train.summary_iterator(str(path)))
    assert len(events) == 4
    assert events[0].file_version == "brain.Event:2"
    assert [event.step for event in events] == [0, 1, 2, 2 ** 40]
    assert [event.wall_time for event in events[1:]] == [1000.25, 1001.5, 1002.0]
    read = [[(value.tag, value.simple_value, value.WhichOneof("value"))
             for value in event.summary.value] for event in events[1:]]
    assert read == [[("batch_total", np.float32(0.1), "simple_value")],
                    [("batch_face_a", 0.0, "simple_value"),
                     ("batch_face_b", 2.5, "simple_value")],
                    [("batch_total", -4.0, "simple_value")]]
    # Our hand encoding is byte-for-byte what the protobuf library serialises.
    for event in events:
        payload = event.SerializeToString()
        assert tb._encode_event(event.wall_time, event.step,
                                file_version=event.file_version or None,
                                values={value.tag: value.simple_value
                                        for value in event.summary.value}
                                if event.HasField("summary") else None) == payload
