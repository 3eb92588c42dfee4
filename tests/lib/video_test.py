"""Tests for lib/video.py on tiny videos the tests write themselves (with PyAV directly)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.video import VideoReader, VideoWriter, is_video, video_frame_name

_W, _H, _FRAMES = 64, 48, 12


def _frame(index: int, width: int = _W, height: int = _H) -> np.ndarray:
    """Flat blocks (video codecs keep them nearly exactly): the left half's blue level and the
    right half's red level encode the frame index."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 2, 0] = 20 * index
    frame[:, width // 2:, 2] = 250 - 20 * index
    frame[:, :, 1] = 128
    return frame


def _make_video(path: Path, fps: Fraction, audio: bool = True, frames: int = _FRAMES,
                width: int = _W, height: int = _H) -> Path:
    """Write a test video with PyAV directly: lossless-quality H.264 and, optionally, AAC."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"qp": "0"}
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=8000)
            sound.layout = "mono"
        for index in range(frames):
            image = av.VideoFrame.from_ndarray(_frame(index, width, height), format="bgr24")
            image.pts = index
            container.mux(video.encode(image))
        container.mux(video.encode(None))
        if sound is not None:
            seconds = frames / fps
            samples = int(8000 * seconds)
            tone = (0.3 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 8000)).astype("float32")
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024],
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 8000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(packet) for packet in container.demux(container.streams.audio[0])
                if packet.size]


def test_names() -> None:
    assert video_frame_name("/x/clip.mp4", 0) == "clip_000001.mp4"
    assert video_frame_name("clip.MKV", 122) == "clip_000123.MKV"
    assert is_video("a.mp4") and is_video("b.WebM") and not is_video("c.png")


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)], ids=["25", "29.97"])
def test_read_frames_and_rate(tmp_path: Path, fps: Fraction) -> None:
    path = _make_video(tmp_path / "in.mp4", fps, audio=False)
    with VideoReader(path) as video:
        assert video.fps == fps
        assert (video.width, video.height) == (_W, _H)
        assert not video.has_audio
        frames = list(video)
        assert len(list(video)) == _FRAMES  # a second pass starts again
    assert len(frames) == _FRAMES
    for index, frame in enumerate(frames):
        assert frame.dtype == np.uint8 and frame.shape == (_H, _W, 3)
        # Lossless luma; 4:2:0 chroma and BGR<->YUV rounding cost a few levels on flat blocks.
        np.testing.assert_allclose(frame[4:-4, 4:_W // 2 - 4].astype(int),
                                   _frame(index)[4:-4, 4:_W // 2 - 4], atol=4)


def test_write_keeps_rate_size_frames_and_copies_audio(tmp_path: Path) -> None:
    fps = Fraction(30000, 1001)
    source = _make_video(tmp_path / "source.mp4", fps)
    source_audio = _audio_packets(source)
    assert len(source_audio) > 2
    out = tmp_path / "out" / "converted.mp4"
    with VideoReader(source) as video, VideoWriter(out, video.fps, (video.width, video.height),
                                                   reference=source, crf=0) as writer:
        for frame in video:
            writer.write(255 - frame)
    assert sorted(p.name for p in out.parent.iterdir()) == ["converted.mp4"]
    with VideoReader(out) as result:
        assert result.fps == fps and (result.width, result.height) == (_W, _H)
        assert result.has_audio
        frames = list(result)
    assert len(frames) == _FRAMES
    for index, frame in enumerate(frames):
        np.testing.assert_allclose(frame[4:-4, 4:_W // 2 - 4].astype(int),
                                   255 - _frame(index)[4:-4, 4:_W // 2 - 4], atol=6)
    assert _audio_packets(out) == source_audio  # copied, not re-encoded


def test_odd_size_and_no_audio_reference(tmp_path: Path) -> None:
    silent = _make_video(tmp_path / "silent.mp4", Fraction(24), audio=False)
    out = tmp_path / "odd.mkv"
    with VideoWriter(out, 24, (33, 21), reference=silent) as writer:
        for index in range(3):
            writer.write(_frame(index, 33, 21))
    with VideoReader(out) as result:
        assert (result.width, result.height, result.fps) == (33, 21, 24)
        assert not result.has_audio
        assert len(list(result)) == 3


def test_failure_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "never.mp4"
    with pytest.raises(ValueError, match="uint8 frame"):
        with VideoWriter(out, 25, (_W, _H)) as writer:
            writer.write(_frame(0))
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, options", [
    ("x.mp4", {"codec": "libx265", "tune": "film"}),
    ("x.mp4", {"codec": "libx265", "tune": "stillimage"}),
    ("x.mp4", {"codec": "libx265", "profile": "high"}),
    ("x.avi", {"codec": "libx265"}),
])
def test_options_the_encoder_refuses_are_clear_errors(tmp_path: Path, name: str,
                                                      options: dict[str, str]) -> None:
    """Combinations of Faceswap's writer options that FFmpeg's encoder refuses stop before any
    frame is written, naming the options; nothing is left behind."""
    with pytest.raises(FaceswapError, match="codec libx265.*check the writer options"):
        VideoWriter(tmp_path / name, 25, (_W, _H), **options)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 10)
    with pytest.raises(FaceswapError, match="junk.mp4"):
        VideoReader(junk)
    with pytest.raises(FaceswapError, match="reference video"):
        VideoWriter(tmp_path / "o.mp4", 25, (_W, _H), reference=junk)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]
