"""The demo's swapped clip: a few seconds of identity A moving in a scene, written as a video
with Faceswap's alignments file beside it, converted A -> B by the ``convert`` command's own
code (frames mode, ``-w ffmpeg``), and a before/after contact sheet.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from faceswap_original.demo_data import render_clip_frame
from lib.align.alignments import default_alignments_path, face_from_landmarks, save_alignments
from lib.image import encode_image
from lib.utils import write_atomic
from lib.video import VideoReader, VideoWriter, video_frame_name

__all__ = ["CLIP_FPS", "CLIP_SECONDS", "CLIP_SIZE", "contact_sheet", "convert_clip",
           "make_clip", "write_clip"]

logger = logging.getLogger(__name__)

CLIP_SECONDS = 3.0
"""Length of the demo clip."""
CLIP_FPS = 12
"""Its frame rate."""
CLIP_SIZE = 256
"""Its width and height in pixels."""
_SHEET_FRAMES = 6


def write_clip(folder: str | Path, seconds: float = CLIP_SECONDS, fps: int = CLIP_FPS,
               size: int = CLIP_SIZE, seed: int = 0) -> tuple[Path, Path]:
    """Render identity A's clip as ``<folder>/clip.mp4`` and write its alignments file where
    Faceswap's extract puts it (``clip_alignments.fsa``): one face a frame, from the drawn
    landmarks, with the ``components`` and ``extended`` masks extract stores.

    Returns
    -------
    The video and the alignments file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "clip.mp4"
    frames = max(1, round(seconds * fps))
    data = {}
    with VideoWriter(video, fps, (size, size), crf=16) as writer:
        for index in range(frames):
            frame, landmarks = render_clip_frame("a", index / fps, size, seed)
            writer.write(frame)
            data[video_frame_name(video, index)] = {"faces": [face_from_landmarks(landmarks)],
                                                    "video_meta": {}}
    return video, save_alignments(default_alignments_path(video), data)


def convert_clip(video: str | Path, output_dir: str | Path, model_dir: str | Path,
                 config_file: str | Path | None = None) -> Path:
    """Convert ``video`` A -> B with the model, as ``faceswap-original convert -i VIDEO -o OUT
    -m MODEL -w ffmpeg [-C CONFIG]`` does (the same parser and command). Returns the swapped
    video."""
    from faceswap_original.cli import build_parser
    from faceswap_original.convert import convert

    argv = ["convert", "-i", str(video), "-o", str(output_dir), "-m", str(model_dir),
            "-w", "ffmpeg"]
    if config_file is not None:
        argv += ["-C", str(config_file)]
    convert(build_parser().parse_args(argv))
    return Path(output_dir) / f"{Path(video).stem}_converted.mp4"


def _label(image: np.ndarray, text: str) -> np.ndarray:
    band = np.full((22, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, image])


def contact_sheet(before: str | Path, after: str | Path, path: str | Path,
                  count: int = _SHEET_FRAMES) -> Path:
    """A PNG of ``count`` evenly spaced frames: ``before`` on the top row, ``after`` below."""
    with VideoReader(before) as first, VideoReader(after) as second:
        frames_before, frames_after = list(first), list(second)
    if len(frames_before) != len(frames_after) or not frames_before:
        raise ValueError(f"The videos hold {len(frames_before)} and {len(frames_after)} frames.")
    picks = np.linspace(0, len(frames_before) - 1, min(count, len(frames_before))).round()
    rows = [np.hstack([frames[int(i)] for i in picks]) for frames in (frames_before,
                                                                        frames_after)]
    sheet = np.vstack([_label(rows[0], "before: identity A (the clip)"),
                       _label(rows[1], "after: A -> B (faceswap-original convert)")])
    path = Path(path)
    write_atomic(path, encode_image(sheet, ".png"))
    return path


def make_clip(root: str | Path, model_dir: str | Path, config_file: str | Path | None = None,
              seconds: float = CLIP_SECONDS) -> tuple[Path, Path]:
    """The demo's last step: :func:`write_clip` into ``<root>/clip``, :func:`convert_clip`
    into ``<root>/clip/swapped``, and the contact sheet ``<root>/clip_before_after.png``.

    Returns
    -------
    The swapped video and the contact sheet.
    """
    root = Path(root)
    video, _ = write_clip(root / "clip", seconds)
    swapped = convert_clip(video, root / "clip" / "swapped", model_dir, config_file)
    sheet = contact_sheet(video, swapped, root / "clip_before_after.png")
    return swapped, sheet
