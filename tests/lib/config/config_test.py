"""Tests for lib.config.Config: ini reading, writing and validation."""
from __future__ import annotations

import configparser
import logging

import pytest

from lib.config import Config, ConfigItem, ConfigSection
from lib.errors import ConfigError


def _config(optional_prefixes: tuple[str, ...] = ()) -> Config:
    return Config([
        ConfigSection("global", "Global help.", {
            "coverage": ConfigItem(datatype=float, default=100.0, group="face", info="Coverage.",
                                   min_max=(62.5, 100.0), rounding=2),
            "mixed_precision": ConfigItem(datatype=bool, default=False, group="network",
                                          info="Mixed.", fixed=False)}),
        ConfigSection("model.original", "Original Faceswap Model.", {
            "lowmem": ConfigItem(datatype=bool, default=False, group="settings",
                                 info="Low memory.")}),
    ], optional_prefixes=optional_prefixes)


def test_missing_file_is_written_with_help_and_defaults(tmp_path):
    path = tmp_path / "config" / "train.ini"
    config = _config()
    config.load(path)
    text = path.read_text()
    assert "# Global help.\n[global]\n# Coverage." in text
    assert "# [Default: 100.0]\ncoverage = 100.0" in text
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser.sections() == ["global", "model.original"]
    assert parser.get("model.original", "lowmem") == "False"


def test_values_are_read_into_the_items(tmp_path):
    path = tmp_path / "train.ini"
    path.write_text("[global]\ncoverage = 87.5\nmixed_precision = true\n"
                    "[model.original]\nlowmem = True\n")
    config = _config()
    config.load(path)
    items = config.items()
    assert items["coverage"]() == 87.5
    assert items["mixed_precision"]() is True
    assert items["lowmem"]() is True
    assert config.items(["global"]).keys() == {"coverage", "mixed_precision"}
    assert items["lowmem"].name == "model.original.lowmem"
    config.reset()
    assert items["coverage"]() == 100.0


def test_invalid_value_names_file_section_option_allowed_and_found(tmp_path):
    path = tmp_path / "train.ini"
    path.write_text("[global]\ncoverage = 50\nmixed_precision = False\n"
                    "[model.original]\nlowmem = False\n")
    with pytest.raises(ConfigError) as info:
        _config().load(path)
    message = str(info.value)
    for part in (str(path), "[global]", "'global.coverage'", "between 62.5 and 100.0", "50"):
        assert part in message


def test_unparsable_file_is_a_config_error(tmp_path):
    path = tmp_path / "train.ini"
    path.write_text("coverage = 80\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        _config().load(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("[global]\ncoverage = 90\ncoverge = 1\n", ["unknown option 'coverge'",
                                                "Did you mean 'coverage'?", "[global]"]),
    ("[global]\ncoverage = 90\n[trainer.old]\nx = 1\n", ["unknown section [trainer.old]",
                                                          "[model.original]"])])
def test_unknown_options_and_sections_are_refused(tmp_path, text, expected):
    path = tmp_path / "train.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        _config().load(path)
    for part in [str(path), *expected]:
        assert part in str(info.value)
    assert path.read_text() == text  # nothing written


def test_missing_options_are_added_and_optional_sections_ignored(tmp_path, caplog):
    path = tmp_path / "train.ini"
    path.write_text("[global]\ncoverage = 90\n[model.gone]\nx = 1\n")
    config = _config(optional_prefixes=("model.",))
    with caplog.at_level(logging.WARNING):
        config.load(path)
    assert "Ignoring section [model.gone]" in caplog.text
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser.get("global", "coverage") == "90.0"  # the user's value is kept
    assert parser.get("model.original", "lowmem") == "False"  # the missing option was added


def test_duplicate_section_is_refused():
    config = _config()
    with pytest.raises(ValueError, match="already defined"):
        config.add_section(ConfigSection("global", "", {}))
