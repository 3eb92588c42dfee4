"""No dead option in ``convert.ini`` (issue 17): every option of every section (``color.*``,
``mask.*``, ``writer.*``) has a row that runs the plugin it configures with two valid values and
asserts a difference (blend mask, colour-matched face, written file), or an entry in
docs/differences.md that says why it changes nothing here."""
from __future__ import annotations

import functools
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from plugins.convert import convert_config
from tests.conftest import BACKEND, _reset_keras_state
from tests.plugins.option_walk import (
    OptionRow,
    Options,
    check_complete,
    differ,
    ini,
    run_row,
    table,
)


def _load(options: Options, folder: Path) -> None:
    """Read ``options`` into the convert config, as a ``convert.ini`` holding them."""
    convert_config.reset_config()
    convert_config.load_config(ini(options, folder, "convert.ini"))


def _soft_disc(size: int) -> np.ndarray:
    """A ``uint8`` disc with soft edges (values between 0 and 255 at its rim)."""
    mask = np.zeros((size, size), "uint8")
    cv2.circle(mask, (size // 2, size // 2 - 4), size // 3, 255, -1)
    return cv2.GaussianBlur(mask, (0, 0), size / 16)


@pytest.fixture(autouse=True, params=[BACKEND])
def keras_state(request: pytest.FixtureRequest) -> Any:
    """conftest's fresh Keras state without its full garbage collection: nothing here builds a
    model."""
    _reset_keras_state()
    yield request.param
    _reset_keras_state()


# --- probes --------------------------------------------------------------------------------------
def _blend(options: Options, folder: Path) -> tuple[np.ndarray, ...]:
    """``mask.mask_blend`` on a stored 128 px mask (processed by lib.align with the blend's
    threshold and blur, then eroded and boxed) and on a predicted mask (blurred)."""
    from lib.align.aligned_mask import Mask
    from plugins.convert.mask.mask_blend import MaskBlend
    _load(options, folder)
    stored = Mask(zlib.compress(_soft_disc(128).tobytes()), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                  2, 128, "face")
    blend = MaskBlend("components", 64)
    processed = stored.get_mask(**blend.stored_mask_options())
    rng = np.random.default_rng(0)
    predicted = (rng.random((64, 64, 1)) > 0.5).astype("float32")
    return (*blend.run(processed), *MaskBlend("predicted", 64).run(predicted))


def _match_hist(options: Options, folder: Path) -> np.ndarray:
    """``color.match_hist`` on a fixed face pair inside a fixed mask."""
    from plugins.convert.color.match_hist import Color
    _load(options, folder)
    rng = np.random.default_rng(0)
    old = rng.random((32, 32, 3)).astype("float32")
    new = (rng.random((32, 32, 3)) ** 2).astype("float32")
    mask = np.zeros((32, 32, 1), "float32")
    mask[4:28, 4:28] = 1
    return Color().process(old, new, mask)


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype="uint8"), (64, 48))
    return [np.clip(base.astype("int16") + rng.integers(-20, 20, base.shape), 0, 255)
            .astype("uint8") for _ in range(6)]


def _opencv(options: Options, folder: Path) -> tuple[str, bytes]:
    """``writer.opencv``: the file written for one frame."""
    from plugins.convert.writer.opencv import Writer
    _load(options, folder)
    with Writer(folder / "out") as writer:
        writer.write("frame_000001.png", _frames()[0])
    (path,) = (folder / "out").iterdir()
    return path.name, path.read_bytes()


def _opencv_converted(options: Options, folder: Path) -> list[tuple[str, bytes]]:
    """``writer.opencv`` behind the frame converter: every file written for one frame with a
    face (``draw_transparent`` changes what the converter hands over; ``separate_mask`` where
    its alpha goes)."""
    from plugins.convert.frame_convert import ConvertFace, ConvertFrame, FrameConverter
    from plugins.convert.mask.mask_blend import MaskBlend
    from plugins.convert.writer.opencv import Writer
    _load(options, folder)
    frame = _frames()[0]
    face = ConvertFace(np.array([[1.0, 0.0, -8.0], [0.0, 1.0, -4.0]]), mask=_soft_disc(64))
    with Writer(folder / "out") as writer:
        converter = FrameConverter(lambda batch: 1.0 - batch, 32, 32,
                                   mask_blend=MaskBlend("extended", 32),
                                   color_adjustment="none",
                                   draw_transparent=writer.draw_transparent)
        for name, image in converter.convert([ConvertFrame("frame_000001.png", frame, [face])]):
            writer.write(name, image)
    return sorted((str(path.relative_to(folder / "out")), path.read_bytes())
                  for path in (folder / "out").rglob("*") if path.is_file())


@functools.lru_cache(maxsize=1)
def _source(folder: str) -> Path:
    """A short video with sound, the ``ffmpeg`` writer's source (its name and audio)."""
    from tests.lib.video_test import _make_video
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _make_video(Path(folder) / "source.mp4", Fraction(24), audio=True, frames=6)


def _ffmpeg(options: Options, folder: Path) -> tuple[Any, ...]:
    """``writer.ffmpeg``: six frames written as a video: its name, streams, codec, profile,
    level and bytes."""
    from plugins.convert.writer.ffmpeg import Writer
    _load(options, folder)
    source = _source(str(folder.parent.parent / "source"))
    with Writer(folder / "out", fps=Fraction(24), source=source) as writer:
        for index, frame in enumerate(_frames()):
            writer.write(f"frame_{index:06d}.png", frame)
    (path,) = (folder / "out").iterdir()
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context
        streams = [stream.type for stream in container.streams]
        described = (video.name, video.profile, getattr(video, "level", None))
    return path.name, streams, described, path.read_bytes()


# --- the table -----------------------------------------------------------------------------------
_M, _H, _O, _F = "mask.mask_blend", "color.match_hist", "writer.opencv", "writer.ffmpeg"
_SECTIONS = ("color.", "mask.", "scaling.", "writer.")  # convert.ini's kinds of plugin


def _row(section: str, option: str, values: tuple[Any, Any], probe: Any,
         base: Options | None = None, slow: bool = False) -> OptionRow:
    return OptionRow(section, option, values, probe, base or {}, slow)


ROWS = [
    _row(_H, "threshold", (99.0, 90.0), _match_hist),
    _row(_M, "type", ("normalized", "gaussian"), _blend),
    _row(_M, "kernel_size", (3, 9), _blend),
    _row(_M, "passes", (4, 1), _blend),
    _row(_M, "threshold", (4, 40), _blend),
    _row(_M, "erosion", (0.0, 20.0), _blend),
    _row(_M, "erosion_top", (0.0, 20.0), _blend),
    _row(_M, "erosion_bottom", (0.0, 20.0), _blend),
    _row(_M, "erosion_left", (0.0, 20.0), _blend),
    _row(_M, "erosion_right", (0.0, 20.0), _blend),
    _row(_O, "format", ("png", "jpg"), _opencv),
    _row(_O, "jpg_quality", (75, 30), _opencv, {_O: {"format": "jpg"}}),
    _row(_O, "png_compress_level", (3, 9), _opencv),
    _row(_O, "draw_transparent", (False, True), _opencv_converted),
    _row(_O, "separate_mask", (False, True), _opencv_converted, {_O: {"draw_transparent": True}}),
    _row(_F, "container", ("mp4", "mkv"), _ffmpeg),
    _row(_F, "codec", ("libx264", "libx265"), _ffmpeg),
    _row(_F, "crf", (23, 40), _ffmpeg),
    _row(_F, "preset", ("medium", "ultrafast"), _ffmpeg),
    _row(_F, "tune", ("none", "grain"), _ffmpeg),
    _row(_F, "profile", ("main", "high"), _ffmpeg),
    _row(_F, "level", ("3", "4"), _ffmpeg),
    _row(_F, "skip_mux", (False, True), _ffmpeg),
]


def test_every_option_has_a_row_or_a_reason() -> None:
    """The table and docs/differences.md together name every option of ``convert.ini``, and
    nothing else; both values of every row are valid."""
    check_complete(convert_config.get_config(), ROWS, _SECTIONS)


@pytest.mark.parametrize("row", table(ROWS))
def test_option_changes_behaviour(row: OptionRow, tmp_path: Path) -> None:
    run_row(row, tmp_path / row.id)


# Options whose every choice is used (written), not only refused ("an option that can only be
# rejected is not offered"); the ffmpeg options with the default codec (libx264: libx265 takes
# other names for some tunes, profiles and levels, and is refused by the avi container).
_EVERY_CHOICE = [(_M, "type", _blend), (_O, "format", _opencv), (_F, "container", _ffmpeg),
                 (_F, "codec", _ffmpeg), (_F, "preset", _ffmpeg), (_F, "tune", _ffmpeg),
                 (_F, "profile", _ffmpeg), (_F, "level", _ffmpeg)]


@pytest.mark.parametrize(("section", "option", "probe"), [
    pytest.param(*entry, id=f"{entry[0]}.{entry[1]}") for entry in _EVERY_CHOICE])
def test_every_choice_is_usable(section: str, option: str, probe: Any, tmp_path: Path) -> None:
    choices = convert_config.get_config().sections[section].items[option].choices
    assert choices
    for index, choice in enumerate(choices):
        assert probe({section: {option: choice}}, tmp_path / "choice" / str(index)), choice


@pytest.mark.parametrize("probe", [
    _blend, _match_hist, _opencv, _ffmpeg])
def test_probe_sees_no_change_without_one(probe: Any, tmp_path: Path) -> None:
    """The probes are deterministic: the defaults twice give the same observation (so a
    difference in a row comes from the option)."""
    first = probe({}, tmp_path / "row" / "1")
    assert not differ(first, probe({}, tmp_path / "row" / "2"))
