"""Tests for faceswap_original/convert_frames.py: frames folders and videos with an alignments
file, end to end through the writers (the swap model is a stand-in function)."""
from __future__ import annotations

import pickle
import zlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceswap_original.convert_frames import convert_frames, parse_frame_ranges
from lib.align.aligned_mask import stored_landmark_mask
from lib.align.alignments import save_alignments
from lib.errors import FaceswapError
from lib.video import VideoReader
from plugins.convert import convert_config
from tests.lib.video_test import _audio_packets, _make_video
from tests.plugins.convert.frame_convert_test import _landmarks

_MODEL = {"input_size": 32, "output_size": 32, "centering": "face", "coverage": 1.0}


@pytest.fixture(autouse=True)
def _reset_convert_config():
    convert_config.reset_config()
    yield
    convert_config.reset_config()


def _predict(batch: np.ndarray) -> np.ndarray:
    return (1.0 - batch) * 0.8 + 0.1


def _face(centre: tuple[float, float], scale: float) -> dict:
    landmarks = _landmarks(centre, scale, 5.0)
    mask = stored_landmark_mask(landmarks, "extended").to_dict()
    mask["affine_matrix"] = np.array(mask["affine_matrix"])  # as in an .fsa file
    return {"x": 0, "w": 1, "y": 0, "h": 1, "landmarks_xy": landmarks,
            "mask": {"extended": mask}, "identity": {}, "thumb": None}


def _frames_folder(folder: Path, count: int = 3) -> Path:
    folder.mkdir()
    yy, xx = np.mgrid[:96, :160]
    for index in range(count):
        frame = np.stack([xx * 2, yy * 2, (xx + yy + 20 * index)], axis=-1) % 256
        cv2.imwrite(str(folder / f"frame_{index + 1:04d}.png"), frame.astype("uint8"))
    return folder


def _alignments(path: Path, frames: dict[str, list[dict]]) -> Path:
    return save_alignments(path, {name: {"faces": faces, "video_meta": {}}
                                  for name, faces in frames.items()})


def _config(tmp_path: Path) -> Path:
    return tmp_path / "convert.ini"


def test_frames_folder_to_png(tmp_path: Path) -> None:
    frames = _frames_folder(tmp_path / "frames")
    _alignments(frames / "alignments.fsa", {
        "frame_0001.png": [_face((40, 45), 30), _face((120, 50), 28)],
        "frame_0002.png": []})  # frame 3 is not in the file
    out = tmp_path / "out"
    summary = convert_frames(frames, out, predict=_predict, config_file=_config(tmp_path),
                             **_MODEL)
    assert (summary.frames, summary.faces, summary.output) == (3, 2, out)
    assert sorted(p.name for p in out.iterdir()) == ["frame_0001.png", "frame_0002.png",
                                                     "frame_0003.png"]
    for name in ("frame_0002.png", "frame_0003.png"):
        np.testing.assert_array_equal(cv2.imread(str(out / name)), cv2.imread(str(frames / name)))
    before, after = (cv2.imread(str(folder / "frame_0001.png")) for folder in (frames, out))
    changed = np.abs(after.astype(int) - before.astype(int)).max(axis=-1) > 0
    assert changed[:, :80].sum() > 200 and changed[:, 80:].sum() > 200  # both faces
    assert not changed[:, 76:84].any() and not changed[:5].any()  # between and around them


def test_progress_bar_on_a_terminal_leaves_the_frames_unchanged(tmp_path: Path) -> None:
    """As Faceswap, a bar of the frames (3/3, the skipped frame counted too) on a terminal; the
    frames written are the same with it as without it."""
    from tests.lib.progress_test import on_terminal

    frames = _frames_folder(tmp_path / "frames")
    _alignments(frames / "alignments.fsa", {"frame_0001.png": [_face((40, 45), 30)]})
    plain = convert_frames(frames, tmp_path / "plain", predict=_predict,
                           config_file=_config(tmp_path), frame_ranges=[(1, 2)], **_MODEL)
    with on_terminal() as terminal:
        shown = convert_frames(frames, tmp_path / "shown", predict=_predict,
                               config_file=_config(tmp_path), frame_ranges=[(1, 2)], **_MODEL)
    text = terminal.getvalue()
    assert "Converting" in text and "3/3" in text and "frame" in text
    assert (plain.frames, plain.skipped) == (shown.frames, shown.skipped) == (2, 1)
    for name in ("frame_0001.png", "frame_0002.png"):
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "plain" / name)),
                                      cv2.imread(str(tmp_path / "shown" / name)))


def test_mask_type_missing_and_none(tmp_path: Path) -> None:
    frames = _frames_folder(tmp_path / "frames", 1)
    _alignments(frames / "alignments.fsa", {"frame_0001.png": [_face((60, 45), 50)]})
    with pytest.raises(FaceswapError, match="(?s)Mask Type `components`.*Total faces: 1"):
        convert_frames(frames, tmp_path / "out", predict=_predict, mask_type="components",
                       config_file=_config(tmp_path), **_MODEL)
    assert not (tmp_path / "out").exists()
    summary = convert_frames(frames, tmp_path / "out", predict=_predict, mask_type="none",
                             color_adjustment="none", config_file=_config(tmp_path), **_MODEL)
    assert summary.faces == 1


def test_missing_and_hostile_alignments_write_nothing(tmp_path: Path) -> None:
    frames = _frames_folder(tmp_path / "frames", 1)
    with pytest.raises(FaceswapError, match="No alignments file found"):
        convert_frames(frames, tmp_path / "out", predict=_predict,
                       config_file=_config(tmp_path), **_MODEL)

    class Hostile:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    evil = tmp_path / "evil.fsa"
    evil.write_bytes(zlib.compress(pickle.dumps({"__meta__": {"version": 2.4},
                                                 "__data__": Hostile()})))
    with pytest.raises(FaceswapError, match="evil.fsa"):
        convert_frames(frames, tmp_path / "out", predict=_predict, alignments=evil,
                       config_file=_config(tmp_path), **_MODEL)
    assert not (tmp_path / "out").exists() and not (tmp_path / "ran").exists()


def test_frame_ranges_and_keep_unchanged(tmp_path: Path) -> None:
    assert parse_frame_ranges(["2-3", " 5 - 9 "]) == [(2, 3), (5, 9)]
    with pytest.raises(FaceswapError, match="Invalid frame range"):
        parse_frame_ranges(["9-2"])
    frames = _frames_folder(tmp_path / "frames")
    _alignments(frames / "alignments.fsa", {
        f"frame_{index:04d}.png": [_face((60, 45), 50)] for index in (1, 2, 3)})
    kept = convert_frames(frames, tmp_path / "kept", predict=_predict, frame_ranges=[(2, 2)],
                          keep_unchanged=True, config_file=_config(tmp_path), **_MODEL)
    assert (kept.frames, kept.faces, kept.skipped) == (3, 1, 0)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "kept" / "frame_0001.png")),
                                  cv2.imread(str(frames / "frame_0001.png")))
    dropped = convert_frames(frames, tmp_path / "dropped", predict=_predict,
                             frame_ranges=[(2, 2)], config_file=_config(tmp_path), **_MODEL)
    assert (dropped.frames, dropped.skipped) == (1, 2)
    assert [p.name for p in (tmp_path / "dropped").iterdir()] == ["frame_0002.png"]


def test_video_to_video_keeps_rate_and_audio(tmp_path: Path) -> None:
    video = _make_video(tmp_path / "clip.mp4", Fraction(30000, 1001), frames=5, width=160,
                        height=96)
    _alignments(tmp_path / "clip_alignments.fsa", {
        "clip_000002.mp4": [_face((60, 45), 50)], "clip_000004.mp4": [_face((70, 50), 40)]})
    summary = convert_frames(video, tmp_path / "out", predict=_predict, writer="ffmpeg",
                             config_file=_config(tmp_path), **_MODEL)
    assert summary.output == tmp_path / "out" / "clip_converted.mp4"
    assert (summary.frames, summary.faces) == (5, 2)
    with VideoReader(video) as source, VideoReader(summary.output) as result:
        assert result.fps == source.fps and (result.width, result.height) == (160, 96)
        before, after = list(source), list(result)
    assert len(after) == 5
    differences = [np.abs(a.astype(int) - b.astype(int)).mean()
                   for a, b in zip(after, before, strict=True)]
    assert differences[1] > 3 * max(differences[0], differences[2], 0.5)  # the swapped frames
    assert differences[3] > 3 * max(differences[0], differences[2], 0.5)
    assert _audio_packets(summary.output) == _audio_packets(video)


def test_frames_to_video_needs_a_reference(tmp_path: Path) -> None:
    frames = _frames_folder(tmp_path / "frames", 2)
    _alignments(frames / "alignments.fsa", {})
    with pytest.raises(FaceswapError, match="reference video"):
        convert_frames(frames, tmp_path / "out", predict=_predict, writer="ffmpeg",
                       config_file=_config(tmp_path), **_MODEL)
    reference = _make_video(tmp_path / "ref.mkv", Fraction(24), frames=2, width=160, height=96)
    summary = convert_frames(frames, tmp_path / "out", predict=_predict, writer="ffmpeg",
                             reference_video=reference, config_file=_config(tmp_path),
                             **_MODEL)
    assert summary.output.name == "ref_converted.mp4"
    with VideoReader(summary.output) as result:
        assert result.fps == 24 and len(list(result)) == 2 and result.has_audio
