"""Tests for the frame writers in plugins/convert/writer/."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.video import VideoReader
from plugins.convert.writer._base import WRITER_CHOICES, get_writer
from plugins.convert.writer.ffmpeg import Writer as FFmpegWriter
from plugins.convert.writer.opencv import Writer as OpenCVWriter
from tests.lib.video_test import _audio_packets, _frame, _make_video


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def test_loader() -> None:
    assert WRITER_CHOICES == ["ffmpeg", "opencv"]
    assert get_writer("opencv") is OpenCVWriter and get_writer("ffmpeg") is FFmpegWriter
    with pytest.raises(ValueError, match="Unknown writer 'gif'"):
        get_writer("gif")


def test_opencv_png_default_is_lossless_at_level_3(tmp_path: Path) -> None:
    image = _image()
    with OpenCVWriter(tmp_path / "out") as writer:
        writer.write("frame_000001.jpg", image)
    path = tmp_path / "out" / "frame_000001.png"
    assert path.read_bytes() == cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])[
        1].tobytes()
    np.testing.assert_array_equal(cv2.imread(str(path)), image)


def test_opencv_jpg_quality(tmp_path: Path) -> None:
    image = _image(1)
    writer = OpenCVWriter(tmp_path, format="jpg", jpg_quality=90)
    writer.write("a.png", image)
    expected = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    assert (tmp_path / "a.jpg").read_bytes() == expected
    assert expected != cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()


def test_opencv_transparent_writes_png_with_alpha_or_a_separate_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (12, 16, 4), dtype="uint8")
    writer = OpenCVWriter(tmp_path / "alpha", format="jpg", draw_transparent=True)
    assert writer.format == "png"  # forced: JPEG has no alpha
    writer.write("f_001.png", image)
    np.testing.assert_array_equal(
        cv2.imread(str(tmp_path / "alpha" / "f_001.png"), cv2.IMREAD_UNCHANGED), image)
    writer = OpenCVWriter(tmp_path / "split", draw_transparent=True, separate_mask=True)
    writer.write("f_001.png", image)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "split" / "f_001.png"),
                                              cv2.IMREAD_UNCHANGED), image[..., :3])
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "split" / "masks" / "f_001.png"),
                                              cv2.IMREAD_UNCHANGED), image[..., 3])
    # separate_mask acts only with draw_transparent
    assert not OpenCVWriter(tmp_path / "plain", separate_mask=True).separate_mask


def test_ffmpeg_writer_names_output_and_copies_audio(tmp_path: Path) -> None:
    source = _make_video(tmp_path / "clip.mp4", Fraction(24), frames=6)
    with FFmpegWriter(tmp_path / "out", fps=Fraction(24), source=source, crf=0,
                      preset="ultrafast") as writer:
        for index in range(6):
            writer.write(f"clip_{index + 1:06d}.mp4", _frame(index))
    out = tmp_path / "out" / "clip_converted.mp4"
    with VideoReader(out) as video:
        assert video.fps == 24 and len(list(video)) == 6
    assert _audio_packets(out) == _audio_packets(source)


def test_ffmpeg_writer_skip_mux_and_container(tmp_path: Path) -> None:
    source = _make_video(tmp_path / "clip.mp4", Fraction(25), frames=3)
    with FFmpegWriter(tmp_path, fps=25, source=source, skip_mux=True,
                      container="mkv") as writer:
        for index in range(3):
            writer.write("x", _frame(index))
    assert _audio_packets(tmp_path / "clip_converted.mkv") == []
