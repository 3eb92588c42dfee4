"""Reading and writing video files through PyAV (FFmpeg's libraries, shipped in the ``av`` wheel).

OpenCV's ``VideoCapture``/``VideoWriter`` cannot carry audio, so a converted video would lose
its sound; Faceswap 3 runs an FFmpeg binary (imageio-ffmpeg) for the same reason. PyAV decodes
and encodes in-process, needs no system FFmpeg, and copies the audio packets of a reference
video into the output unchanged.

Frames are BGR ``uint8`` arrays ``(height, width, 3)``, as everywhere in Faceswap.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from lib.errors import FaceswapError
from lib.utils import atomic_replace

__all__ = ["VIDEO_EXTENSIONS", "VideoReader", "VideoWriter", "is_video", "video_frame_name"]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".avi", ".flv", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".vob",
                    ".webm", ".wmv")
"""File extensions treated as video (Faceswap's list)."""
_MAX_FRAME_PIXELS = 8192 * 8192


def _av() -> Any:
    """PyAV, imported on first use (it is only needed for videos)."""
    try:
        import av
    except ImportError as err:  # pragma: no cover - a core dependency
        raise FaceswapError("Reading and writing videos needs PyAV: `pip install av`.") from err
    return av


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is a file with a video extension."""
    path = Path(path)
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.is_dir()


def video_frame_name(video_path: str | Path, index: int) -> str:
    """The name Faceswap gives frame ``index`` (0-based) of a video, which is its key in the
    alignments file: ``<video stem>_<1-based number, 6 digits><video extension>``."""
    path = Path(video_path)
    return f"{path.stem}_{index + 1:06d}{path.suffix}"


class VideoReader:
    """Decode the frames of a video file.

    Parameters
    ----------
    path
        The video file.

    Raises
    ------
    lib.errors.FaceswapError
        If the file cannot be opened, has no video stream, or its frames are too large.

    Examples
    --------
    >>> with VideoReader("clip.mp4") as video:          # doctest: +SKIP
    ...     for index, frame in enumerate(video):
    ...         name = video_frame_name("clip.mp4", index)
    """

    def __init__(self, path: str | Path) -> None:
        av = _av()
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path), "r")
        except (av.FFmpegError, OSError) as err:
            raise FaceswapError(f"The video '{self.path}' cannot be opened: {err}. Check that it "
                                "is a video file FFmpeg can read.") from err
        if not self._container.streams.video:
            self._container.close()
            raise FaceswapError(f"The file '{self.path}' has no video stream.")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._iterated = False
        if self.width * self.height > _MAX_FRAME_PIXELS or self.width <= 0 or self.height <= 0:
            self._container.close()
            raise FaceswapError(f"The video '{self.path}' has frames of {self.width}x"
                                f"{self.height} pixels, outside what can be converted.")

    @property
    def fps(self) -> Fraction:
        """The frame rate, exactly (e.g. ``Fraction(30000, 1001)``)."""
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        return Fraction(rate) if rate else Fraction(25)

    @property
    def width(self) -> int:
        return int(self._stream.codec_context.width)

    @property
    def height(self) -> int:
        return int(self._stream.codec_context.height)

    @property
    def frame_count(self) -> int:
        """The number of frames the container declares (0 when it does not say)."""
        return int(self._stream.frames or 0)

    @property
    def has_audio(self) -> bool:
        return bool(self._container.streams.audio)

    def __iter__(self) -> Iterator[np.ndarray]:
        av = _av()
        if self._iterated:  # a second pass starts from the beginning again
            self._container.seek(0)
        self._iterated = True
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="bgr24")
        except av.FFmpegError as err:
            raise FaceswapError(f"The video '{self.path}' could not be decoded: {err}.") from err

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class VideoWriter:
    """Encode BGR frames into a video file, with the audio of a reference video copied in.

    The file appears only when :meth:`close` succeeds (it is written to a temporary file in the
    same folder and renamed), so an interrupted conversion never leaves a broken video behind.

    Parameters
    ----------
    path
        The output file; its extension chooses the container (``.mp4``, ``.mkv``, ...).
    fps
        The frame rate (take the input's: :attr:`VideoReader.fps`).
    size
        ``(width, height)`` of every frame.
    reference
        A video whose first audio stream is copied (packets unchanged, not re-encoded) into the
        output, or ``None``. Skipped with a warning when there is none or the container cannot
        hold its codec.
    codec, crf, preset, tune, profile, level
        Faceswap's ``writer.ffmpeg`` options (``tune``, ``profile`` and ``level``: ``"none"`` or
        ``"auto"`` leave the encoder's default).

    Faceswap compat: Faceswap pipes the frames to an FFmpeg process; the options and their
    meaning are the same. Frames of odd width or height cannot be stored as 4:2:0 chroma; such
    videos are written as 4:4:4 instead of being resized.
    """

    def __init__(self, path: str | Path, fps: Fraction | float, size: tuple[int, int], *,
                 reference: str | Path | None = None, codec: str = "libx264", crf: int = 23,
                 preset: str = "medium", tune: str = "none", profile: str = "auto",
                 level: str = "auto") -> None:
        av = _av()
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self._fps = Fraction(fps).limit_denominator(1_000_000)
        self._count = 0
        self._closed = False
        self._atomic = atomic_replace(self.path, suffix=self.path.suffix)
        temp = self._atomic.__enter__()
        try:
            self._container = av.open(str(temp), "w")
            self._stream = self._add_video(codec, crf, preset, tune, profile, level)
            self._reference, self._audio_in, self._audio_out = self._add_audio(reference)
            self._audio_packets = (self._reference.demux(self._audio_in)
                                   if self._audio_in is not None else None)
        except BaseException as err:
            self._abort(err)
            if isinstance(err, (av.FFmpegError, ValueError)):
                raise FaceswapError(
                    f"The video '{self.path}' cannot be written with codec {codec}, preset "
                    f"{preset}, tune {tune}, profile {profile}, level {level} in a "
                    f"'{self.path.suffix}' file: {err}. FFmpeg's encoder or container refuses "
                    "this: check the writer options in convert.ini.") from err
            raise

    def _add_video(self, codec: str, crf: int, preset: str, tune: str, profile: str,
                   level: str) -> Any:
        width, height = self.size
        stream = self._container.add_stream(codec, rate=self._fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        options = {"crf": str(crf), "preset": preset}
        if tune != "none":
            options["tune"] = tune
        if profile != "auto":
            options["profile"] = profile
        if level != "auto":
            options["level"] = level
        stream.options = options
        # Open the encoder now: a combination of options it refuses (e.g. libx265 with tune
        # 'film') fails here, before any frame is converted, rather than at the first frame.
        stream.codec_context.open()
        return stream

    def _add_audio(self, reference: str | Path | None) -> tuple[Any, Any, Any]:
        if reference is None:
            return None, None, None
        av = _av()
        try:
            source = av.open(str(reference), "r")
        except (av.FFmpegError, OSError) as err:
            raise FaceswapError(f"The reference video '{reference}' cannot be opened: "
                                f"{err}.") from err
        if not source.streams.audio:
            logger.info("The reference video '%s' has no audio: the output is silent.", reference)
            source.close()
            return None, None, None
        audio = source.streams.audio[0]
        name = audio.codec_context.name
        if name not in self._container.supported_codecs:
            logger.warning("The audio of '%s' (%s) cannot be stored in a '%s' file: the output is "
                           "silent. Choose another container in convert.ini.", reference, name,
                           self.path.suffix)
            source.close()
            return None, None, None
        return source, audio, self._container.add_stream_from_template(audio)

    def write(self, frame: np.ndarray) -> None:
        """Encode one BGR ``uint8`` frame of the writer's size."""
        av = _av()
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise ValueError(f"Expected a ({self.size[1]}, {self.size[0]}, 3) uint8 frame, got "
                             f"{frame.shape} {frame.dtype}.")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        video_frame.pts = self._count
        self._container.mux(self._stream.encode(video_frame))
        self._count += 1
        self._mux_audio(Fraction(self._count) / self._fps)

    def _mux_audio(self, until: Fraction | None) -> None:
        """Copy the reference's audio packets that start before ``until`` seconds (all of the
        rest when ``None``), so that audio and video stay interleaved."""
        if self._audio_packets is None:
            return
        for packet in self._audio_packets:
            if packet.dts is None or packet.size == 0:
                continue
            start = packet.dts * packet.time_base
            packet.stream = self._audio_out
            self._container.mux(packet)
            if until is not None and start >= until:
                return
        self._audio_packets = None

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio and move the file into place."""
        if self._closed:
            return
        try:
            self._container.mux(self._stream.encode(None))
            self._mux_audio(None)
            self._container.close()
            if self._reference is not None:
                self._reference.close()
        except BaseException as err:
            self._abort(err)
            raise
        self._closed = True
        self._atomic.__exit__(None, None, None)
        logger.info("Wrote %s frames to '%s'", self._count, self.path)

    def _abort(self, err: BaseException) -> None:
        """Close everything and delete the temporary file; the output path is untouched."""
        self._closed = True
        for container in (getattr(self, "_container", None), getattr(self, "_reference", None)):
            if container is not None:
                try:
                    container.close()
                except Exception:  # already failing; the first error matters
                    logger.debug("Closing after an error failed", exc_info=True)
        self._atomic.__exit__(type(err), err, err.__traceback__)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None:
            self.close()
        elif not self._closed:
            self._abort(exc)
