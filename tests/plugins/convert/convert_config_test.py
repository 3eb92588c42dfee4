"""Tests for plugins/convert/convert_config.py: convert.ini with Faceswap 3's sections."""
from __future__ import annotations

import configparser
import logging
from pathlib import Path

import pytest

from lib.errors import ConfigError
from plugins.convert import convert_config
from plugins.convert.color.match_hist import Color as MatchHist
from plugins.convert.mask.mask_blend import MaskBlend
from plugins.convert.writer.opencv import Writer as OpenCVWriter


def test_defaults_written_with_faceswap_sections(tmp_path: Path) -> None:
    path = tmp_path / "convert.ini"
    convert_config.load_config(path)
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser.sections() == ["color.match_hist", "mask.mask_blend", "writer.ffmpeg",
                                 "writer.opencv"]
    assert dict(parser["mask.mask_blend"]) == {
        "type": "normalized", "kernel_size": "3", "passes": "4", "threshold": "4",
        "erosion": "0.0", "erosion_top": "0.0", "erosion_bottom": "0.0", "erosion_left": "0.0",
        "erosion_right": "0.0"}
    assert parser["color.match_hist"]["threshold"] == "99.0"
    assert dict(parser["writer.opencv"]) == {
        "format": "png", "draw_transparent": "False", "separate_mask": "False",
        "jpg_quality": "75", "png_compress_level": "3"}
    assert parser["writer.ffmpeg"]["container"] == "mp4"
    assert parser["writer.ffmpeg"]["codec"] == "libx264"
    assert parser["writer.ffmpeg"]["crf"] == "23"


def test_values_reach_the_plugins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "convert.ini"
    path.write_text("[mask.mask_blend]\ntype = gaussian\npasses = 2\nerosion_top = 5\n\n"
                    "[color.match_hist]\nthreshold = 95\n\n"
                    "[writer.opencv]\nformat = jpg\n\n"
                    "[writer.gif]\nfps = 25\n")
    with caplog.at_level(logging.WARNING):
        convert_config.load_config(path)
    assert "writer.gif" in caplog.text
    blend = MaskBlend("extended", 64)
    assert (blend.blur_type, blend.passes, blend.erosions[2]) == ("gaussian", 2, 0.05)
    assert MatchHist().threshold == pytest.approx(0.95)
    assert OpenCVWriter(tmp_path / "o").format == "jpg"


@pytest.mark.parametrize("text, match", [
    ("[mask.mask_blend]\npasses = 9\n", "passes"),
    ("[mask.mask_blend]\nblur = 3\n", "unknown option 'blur'"),
    ("[mask.blend]\n", "unknown section"),
])
def test_invalid_files_are_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "convert.ini"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        convert_config.load_config(path)
    assert path.read_text() == text


def test_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESWAP_CONFIG_DIR", str(tmp_path))
    assert convert_config.default_config_file() == tmp_path / "convert.ini"
