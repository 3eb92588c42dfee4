"""Tests for faceswap_original/demo_clip.py: the clip's video and alignments file agree with the
drawn frames, and the contact sheet stacks before over after."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from faceswap_original.demo_clip import contact_sheet, write_clip
from faceswap_original.demo_data import render_clip_frame
from lib.align.alignments import load_alignments
from lib.video import VideoReader, VideoWriter, video_frame_name


def test_write_clip_video_and_alignments_match_the_drawing(tmp_path: Path) -> None:
    video, alignments = write_clip(tmp_path, seconds=0.5, fps=8, size=96, seed=3)
    assert alignments == tmp_path / "clip_alignments.fsa"  # where Faceswap's extract puts it
    with VideoReader(video) as reader:
        assert (reader.fps, reader.width, reader.height) == (Fraction(8), 96, 96)
        frames = list(reader)
    assert len(frames) == 4
    data = load_alignments(alignments)
    assert data.faces_count == 4 and data.mask_summary == {"components": 4, "extended": 4}
    for index, frame in enumerate(frames):
        drawn, landmarks = render_clip_frame("a", index / 8, 96, seed=3)
        (face,) = data.get_faces_in_frame(video_frame_name(video, index))
        np.testing.assert_allclose(face["landmarks_xy"], landmarks, atol=1e-3)
        assert np.abs(frame.astype(int) - drawn.astype(int)).mean() < 3  # crf 16: near lossless


def test_clip_frames_move_over_a_fixed_scene() -> None:
    first, start = render_clip_frame("a", 0.0, 128)
    again, _ = render_clip_frame("a", 0.0, 128)
    later, end = render_clip_frame("a", 1.0, 128)
    np.testing.assert_array_equal(first, again)  # a function of time and seed only
    assert np.linalg.norm((end - start).mean(axis=0)) > 3  # the head moved
    corner = (slice(0, 12), slice(0, 12))
    np.testing.assert_array_equal(first[corner], later[corner])  # the scene did not


def _video(path: Path, shade: int) -> Path:
    with VideoWriter(path, 10, (32, 32), crf=0) as writer:
        for index in range(5):
            writer.write(np.full((32, 32, 3), shade + 10 * index, np.uint8))
    return path


def test_contact_sheet_stacks_before_over_after(tmp_path: Path) -> None:
    sheet = contact_sheet(_video(tmp_path / "a.mp4", 40), _video(tmp_path / "b.mp4", 150),
                          tmp_path / "sheet.png", count=3)
    image = cv2.imread(str(sheet))
    assert image.shape == (2 * (22 + 32), 3 * 32, 3)
    top, bottom = image[22:54], image[76:108]
    # frames 0, 2 and 4 of each video, left to right
    for column, index in enumerate((0, 2, 4)):
        assert abs(int(top[16, 32 * column + 16, 0]) - (40 + 10 * index)) <= 6
        assert abs(int(bottom[16, 32 * column + 16, 0]) - (150 + 10 * index)) <= 6
