"""Convert a folder of frames or a video with a Faceswap alignments file (Faceswap's
``convert -i FRAMES_OR_VIDEO -o OUT -m MODEL -p ALIGNMENTS``), given the swap model's predict
function.

:func:`convert_frames` reads the frames (images of a folder, in name order, or the frames of a
video), looks each up in the alignments file by Faceswap's frame name, converts the faces with
:class:`plugins.convert.frame_convert.FrameConverter` and writes the result with the chosen
writer (``opencv``: image files; ``ffmpeg``: one video with the input's frame rate and audio).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from lib.align.alignments import Alignments, default_alignments_path, load_alignments
from lib.errors import FaceswapError
from lib.image import read_image
from lib.progress import progress
from lib.video import VideoReader, is_video, video_frame_name
from plugins.convert import convert_config
from plugins.convert.frame_convert import (
    ConvertFrame,
    FrameConverter,
    Predict,
    faces_from_alignments,
)
from plugins.convert.mask.mask_blend import MaskBlend
from plugins.convert.writer._base import get_writer

__all__ = ["FRAME_EXTENSIONS", "ConvertSummary", "convert_frames", "parse_frame_ranges",
           "read_alignments"]

logger = logging.getLogger(__name__)

FRAME_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff")
"""Image files read as frames from a folder (Faceswap's image extensions)."""


@dataclass
class ConvertSummary:
    """What :func:`convert_frames` did."""

    frames: int
    """Frames written."""
    faces: int
    """Faces swapped."""
    skipped: int
    """Frames not written (outside ``frame_ranges`` without ``keep_unchanged``)."""
    output: Path
    """The output folder, or the video file for the ``ffmpeg`` writer."""


def parse_frame_ranges(ranges: Sequence[str] | None) -> list[tuple[int, int]] | None:
    """``-fr/--frame-ranges`` values (``"10-50"``) as inclusive ``(first, last)`` pairs.

    Raises
    ------
    lib.errors.FaceswapError
        For a value that is not ``<first>-<last>`` with ``first <= last``.
    """
    if not ranges:
        return None
    result = []
    for text in ranges:
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
        if not match or int(match[1]) > int(match[2]):
            raise FaceswapError(f"Invalid frame range '{text}'. Use <first>-<last>, e.g. "
                                "'10-50'.")
        result.append((int(match[1]), int(match[2])))
    return result


def _frame_number(name: str, index: int, from_video: bool) -> int:
    """The frame number used by frame ranges: the 1-based position in a video, else the last
    number in the file name (the position when it has none)."""
    if from_video:
        return index + 1
    numbers = re.findall(r"\d+", Path(name).stem)
    return int(numbers[-1]) if numbers else index + 1


def _open_frames(source: Path) -> tuple[Iterator[tuple[str, np.ndarray]], int]:
    """``(frame name, BGR image)`` of every frame, in order, and how many frames there are (0
    when a video does not say). The video is opened, or the folder listed, now (so errors come
    before anything is written); frames are read as iterated."""
    if is_video(source):
        video = VideoReader(source)

        def video_frames() -> Iterator[tuple[str, np.ndarray]]:
            with video:
                for index, frame in enumerate(video):
                    yield video_frame_name(source, index), frame
        return video_frames(), video.frame_count
    paths = sorted(path for path in source.iterdir()
                   if path.is_file() and path.suffix.lower() in FRAME_EXTENSIONS)
    if not paths:
        raise FaceswapError(f"The input folder '{source}' holds no frames "
                            f"({', '.join(FRAME_EXTENSIONS)}).")

    def folder_frames() -> Iterator[tuple[str, np.ndarray]]:
        for path in paths:
            image, _, why = read_image(path)
            if image is None:
                logger.warning("Skipping the frame '%s': %s.", path, why)
                continue
            yield path.name, image
    return folder_frames(), len(paths)


def _check_masks(alignments: Alignments, mask_type: str, learn_mask: bool) -> str:
    """Faceswap's mask checks (spec §6.1); returns the mask type to use."""
    if mask_type == "none":
        return mask_type
    total = alignments.faces_count
    summary = alignments.mask_summary
    if mask_type == "predicted":
        if learn_mask:
            return mask_type
        everywhere = [name for name, count in summary.items() if count == total]
        if not everywhere:
            raise FaceswapError("You have selected the Mask Type 'predicted' but the model was "
                                "not trained with learn_mask, and no mask is stored for every "
                                "face in the alignments file. Choose another -M/--mask-type.")
        logger.warning("The model was not trained with a mask: using the stored mask '%s' "
                       "instead of 'predicted'.", everywhere[0])
        return everywhere[0]
    if summary.get(mask_type, 0) != total:
        raise FaceswapError(
            f"You have selected the Mask Type `{mask_type}` but at least one face does not have "
            "this mask stored in the Alignments File.\nYou should generate the required masks "
            "with Faceswap's Mask Tool or set the Mask Type option to an existing Mask Type.\n"
            f"Total faces: {total}, Masks: {summary}")
    return mask_type


def read_alignments(input_path: str | Path, alignments: str | Path | None = None
                    ) -> Alignments:
    """The alignments file of a frames folder or video (``-p`` or where Faceswap puts it),
    read with the restricted loader.

    Raises
    ------
    lib.errors.FaceswapError
        When it is missing, or unsafe, damaged, truncated or too large.
    """
    alignments_path = default_alignments_path(input_path, alignments)
    if not alignments_path.exists():
        raise FaceswapError(
            f"No alignments file found at '{alignments_path}'. Please provide an alignments file "
            "for your destination video (-p/--alignments), written by Faceswap's extract.")
    return load_alignments(alignments_path)


def convert_frames(input_path: str | Path, output_dir: str | Path, *, predict: Predict,
                   input_size: int, output_size: int, centering: str, coverage: float,
                   y_offset: float = 0.0, color_order: str = "bgr", learn_mask: bool = False,
                   match_training: bool = True, extract_size: int = 512,
                   alignments: str | Path | Alignments | None = None,
                   color_adjustment: str = "avg-color",
                   mask_type: str = "extended", writer: str = "opencv",
                   reference_video: str | Path | None = None,
                   frame_ranges: Sequence[tuple[int, int]] | None = None,
                   keep_unchanged: bool = False, jobs: int = 0, batch_size: int = 16,
                   face_scale: float = 0.0, config_file: str | Path | None = None
                   ) -> ConvertSummary:
    """Convert every frame of a folder or a video with its alignments file.

    Parameters
    ----------
    input_path
        ``-i``: a folder of frames or a video file.
    output_dir
        ``-o``: where the frames or the video are written (created; must not be the input
        folder).
    predict
        The swap model's batch function: ``float32 (N, input_size, input_size, 3)`` in [0, 1]
        -> the model's output(s) (see :class:`~plugins.convert.frame_convert.FrameConverter`).
    input_size, output_size, centering, coverage, y_offset, color_order, learn_mask
        The model's: input and output sides, ``centering``, ``coverage / 100``,
        ``vertical_offset / 100``, channel order and whether it was trained with a learned
        mask.
    match_training, extract_size
        Cut each face where training cut it from extracts of ``extract_size`` (default), or
        (``match_training=False``) on Faceswap 3.0's frame path; see
        :func:`plugins.convert.frame_convert.faces_from_alignments`.
    alignments
        ``-p/--alignments``; default ``<folder>/alignments.fsa`` or
        ``<video folder>/<video stem>_alignments.fsa``. An :class:`Alignments` already read
        with :func:`~lib.align.alignments.load_alignments` (the CLI checks the file before it
        loads the model) is used as it is.
    color_adjustment, mask_type, writer
        ``-c``, ``-M``, ``-w``.
    reference_video
        ``-r/--reference-video``: frame rate and audio for a folder of frames written by the
        ``ffmpeg`` writer.
    frame_ranges, keep_unchanged
        ``-fr`` (inclusive ``(first, last)`` frame numbers, see :func:`parse_frame_ranges`) and
        ``-k``: frames outside the ranges are written unchanged with ``keep_unchanged``,
        otherwise left out.
    jobs
        ``-j``: threads patching frames (0: one per core).
    batch_size
        Faces per prediction (the training config's ``convert_batchsize``).
    face_scale
        ``-S/--face-scale`` percent.
    config_file
        ``convert.ini`` (Faceswap's ``-C/--configfile``); the default location when ``None``.

    Raises
    ------
    lib.errors.FaceswapError
        For a missing input or alignments file, an unsafe or damaged alignments file, a mask
        type that not every face has, the ``ffmpeg`` writer on frames without a reference
        video, or unreadable video. Nothing is written when the checks before the first frame
        fail.
    """
    source, output = Path(input_path), Path(output_dir)
    if not source.exists():
        raise FaceswapError(f"The input '{source}' does not exist. Give a folder of frames or a "
                            "video file (-i).")
    from_video = is_video(source)
    if not from_video and not source.is_dir():
        raise FaceswapError(f"The input '{source}' is neither a folder of frames nor a video "
                            "file.")
    if output.resolve() == (source if source.is_dir() else source.parent).resolve() \
            and writer == "opencv":
        raise FaceswapError("The output folder must differ from the input folder, so the "
                            "input frames are not overwritten.")
    convert_config.load_config(config_file)
    data = (alignments if isinstance(alignments, Alignments)
            else read_alignments(source, alignments))
    if from_video:
        data.update_legacy_has_source(source)
    mask_type = _check_masks(data, mask_type, learn_mask)
    source_frames, total = _open_frames(source)
    blend = MaskBlend(mask_type, output_size)
    writer_class = get_writer(writer)
    if writer == "ffmpeg":
        media = source if from_video else reference_video
        if media is None:
            raise FaceswapError("Output as video selected, but using frames as input. You must "
                                "provide a reference video ('-r', '--reference-video').")
        with VideoReader(media) as video:
            fps: Fraction = video.fps
        out = writer_class(output, fps=fps, source=media)
        target = out.path
    else:
        out = writer_class(output)
        target = output
    converter = FrameConverter(predict, input_size, output_size, mask_blend=blend,
                               color_adjustment=color_adjustment, batch_size=batch_size,
                               color_order=color_order, face_scale=face_scale, jobs=jobs,
                               draw_transparent=out.draw_transparent,
                               in_place=True)  # each frame read is used only here
    counts = {"faces": 0, "skipped": 0, "frames": 0}

    def frames() -> Iterator[ConvertFrame]:
        for index, (name, image) in enumerate(source_frames):
            number = _frame_number(name, index, from_video)
            if frame_ranges and not any(first <= number <= last
                                        for first, last in frame_ranges):
                if keep_unchanged:
                    yield ConvertFrame(name, image)
                else:
                    counts["skipped"] += 1
                    bar.update()
                continue
            if not data.frame_exists(name):
                logger.debug("No alignment found for %s, skipping", name)
            faces = faces_from_alignments(
                data.get_faces_in_frame(name), centering=centering, coverage=coverage,
                input_size=input_size, output_size=output_size, mask_blend=blend,
                y_offset=y_offset, match_training=match_training, extract_size=extract_size,
                frame_name=name)
            counts["faces"] += len(faces)
            yield ConvertFrame(name, image, faces)

    # As Faceswap: a progress bar of the frames (on a terminal, at INFO level or below),
    # redrawn at every frame (a frame takes far longer than a redraw).
    with out, progress(total=total or None, desc="Converting", unit="frame",
                       mininterval=0) as bar:
        for name, converted in converter.convert(frames()):
            out.write(name, converted)
            counts["frames"] += 1
            bar.update()
    logger.info("Converted %s frame(s), %s face(s), into '%s'.", counts["frames"],
                counts["faces"], target)
    return ConvertSummary(counts["frames"], counts["faces"], counts["skipped"], target)
