"""Tests for lib.training.tensorboard: event files written through tensorboardX, read back with
TensorFlow's own reader (``tf.compat.v1.train.summary_iterator``, TensorFlow is a dependency of
the project), which checks the TFRecord framing and both CRCs of every record."""
from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from lib.training.tensorboard import EventWriter


def _read_events(path: Path) -> list[dict]:
    """Every event of the file, as ``{"wall_time", "step", "file_version"?, "values"?,
    "images"?}``; ``values`` are ``(tag, simple_value)`` pairs, ``images`` ``(tag, RGB
    array)``."""
    from tensorflow.compat.v1.train import summary_iterator
    events = []
    for event in summary_iterator(str(path)):
        decoded = {"wall_time": event.wall_time, "step": event.step}
        if event.file_version:
            decoded["file_version"] = event.file_version
        if event.HasField("summary"):
            values = [(value.tag, value.simple_value) for value in event.summary.value
                      if value.WhichOneof("value") == "simple_value"]
            images = [(value.tag, np.asarray(Image.open(io.BytesIO(
                value.image.encoded_image_string)).convert("RGB")))
                for value in event.summary.value if value.WhichOneof("value") == "image"]
            if values:
                decoded["values"] = values
            if images:
                decoded["images"] = images
        events.append(decoded)
    return events


def _event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events.out.tfevents.*"))


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


@pytest.mark.smoke
def test_image_read_back(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    with EventWriter(tmp_path) as writer:
        writer.add_image("preview", image, step=7, wall_time=1000.5)
        writer.add_image("float", np.full((2, 3, 3), 0.5, dtype="float32"), step=8)
        writer.add_scalar("loss", 1.0, step=8)
        path = writer.path
    events = _read_events(path)
    assert [event["step"] for event in events] == [0, 7, 8, 8]
    assert events[1]["wall_time"] == 1000.5
    ((tag, read),) = events[1]["images"]
    assert tag == "preview"
    np.testing.assert_array_equal(read, image)  # PNG: lossless
    np.testing.assert_array_equal(events[2]["images"][0][1], np.full((2, 3, 3), 128))
    assert events[3]["values"] == [("loss", 1.0)]


@pytest.mark.smoke
@pytest.mark.parametrize(("image", "error", "match"), [
    (np.zeros((4, 4), dtype=np.uint8), ValueError, "height, width, 3"),
    (np.zeros((4, 4, 4), dtype=np.uint8), ValueError, "height, width, 3"),
    (np.zeros((0, 4, 3), dtype=np.uint8), ValueError, "height, width, 3"),
    (np.zeros((4, 4, 3), dtype=np.int32), TypeError, "uint8, or float"),
])
def test_invalid_images(tmp_path, image, error, match):
    with EventWriter(tmp_path) as writer:
        with pytest.raises(error, match=match):
            writer.add_image("preview", image, step=1)
    assert len(_read_events(writer.path)) == 1
