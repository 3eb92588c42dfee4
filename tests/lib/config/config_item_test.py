"""Tests for lib.config.ConfigItem."""
from __future__ import annotations

import pytest

from lib.config import ConfigItem
from lib.errors import ConfigError, FaceswapError


def _named(item: ConfigItem, name: str = "section.option") -> ConfigItem:
    item.set_name(name)
    return item


def test_calling_returns_the_value_and_strings_are_lower_case():
    item = ConfigItem(datatype=str, default="Face", group="g", info="i",
                      choices=["face", "head"])
    assert item() == item.value == item.get() == "face"
    listed = ConfigItem(datatype=list, default=["Encoder"], group="g", info="i",
                        choices=["encoder", "decoder_a"])
    assert listed() == ["encoder"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"datatype": dict, "default": {}}, "`datatype` must be one of"),
    ({"datatype": bool, "default": False, "group": ""}, "`group` and `info`"),
    ({"datatype": int, "default": 1, "min_max": (0, 2)}, "needs `rounding` > 0"),
    ({"datatype": float, "default": 1.0, "rounding": 2}, "needs `min_max`"),
    ({"datatype": list, "default": []}, "needs `choices`"),
    ({"datatype": str, "default": "x", "choices": ["a", "b"]}, "Invalid value 'x'"),
    ({"datatype": int, "default": 9, "min_max": (0, 5), "rounding": 1}, "between 0 and 5"),
    ({"datatype": bool, "default": False, "unavailable": {"x": "why"}}, "needs a str option"),
    ({"datatype": str, "default": "a", "choices": ["a", "b"], "unavailable": {"B": "why"}},
     "must not be among `choices`"),
])
def test_declaration_errors(kwargs, match):
    arguments = {"group": "g", "info": "i", **kwargs}
    with pytest.raises((ValueError, ConfigError), match=match):
        ConfigItem(**arguments)


def test_set_converts_text_and_checks_it():
    flag = _named(ConfigItem(datatype=bool, default=False, group="g", info="i"))
    for text, expected in (("True", True), ("no", False), (" 1 ", True), ("off", False)):
        flag.set(text)
        assert flag() is expected
    number = _named(ConfigItem(datatype=float, default=5e-5, group="g", info="i",
                               min_max=(1e-6, 1e-4), rounding=6))
    number.set("3.14159e-5")
    assert number() == pytest.approx(3.1e-5)  # rounded to 6 decimal places
    count = _named(ConfigItem(datatype=int, default=3, group="g", info="i",
                              min_max=(1, 40), rounding=1))
    count.set("12")
    assert count() == 12 and isinstance(count(), int)
    layers = _named(ConfigItem(datatype=list, default=["encoder"], group="g", info="i",
                               choices=["encoder", "decoder_a", "decoder_b"]))
    layers.set("decoder_b, encoder decoder_b")
    assert layers() == ["decoder_b", "encoder"]


@pytest.mark.parametrize(("item", "value"), [
    (ConfigItem(datatype=bool, default=False, group="g", info="i"), "maybe"),
    (ConfigItem(datatype=int, default=3, group="g", info="i", min_max=(1, 40), rounding=1),
     "2.5"),
    (ConfigItem(datatype=int, default=3, group="g", info="i", min_max=(1, 40), rounding=1), "41"),
    (ConfigItem(datatype=int, default=3, group="g", info="i", min_max=(1, 40), rounding=1), True),
    (ConfigItem(datatype=float, default=1.0, group="g", info="i", min_max=(0.0, 10.0),
                rounding=1), "ten"),
    (ConfigItem(datatype=str, default="adam", group="g", info="i", choices=["adam", "lion"]),
     "sgd"),
    (ConfigItem(datatype=list, default=["a"], group="g", info="i", choices=["a", "b"]), "a, c"),
    (ConfigItem(datatype=str, default="#ff0000", group="g", info="i", choices="colorchooser"),
     "red"),
])
def test_invalid_values_raise_a_faceswap_error_naming_option_and_allowed_values(item, value):
    _named(item, "global.loss.some_option")
    before = item()
    with pytest.raises(FaceswapError, match=r"Invalid value .* for option "
                                            r"'global.loss.some_option': expected "):
        item.set(value)
    assert item() == before


def test_error_message_lists_sorted_choices():
    item = _named(ConfigItem(datatype=str, default="adam", group="g", info="i",
                             choices=["lion", "adam"]))
    with pytest.raises(ConfigError, match=r"expected one of \['adam', 'lion'\]"):
        item.set("sgd")


def test_set_needs_a_name_and_reset_restores_default():
    item = ConfigItem(datatype=bool, default=False, group="g", info="i")
    with pytest.raises(ValueError, match="set_name"):
        item.set(True)
    _named(item)
    item.set(True)
    item.reset()
    assert item() is False


def test_helptext_and_ini_value():
    item = ConfigItem(datatype=int, default=3, group="g", info="Extra weight.", min_max=(1, 40),
                      rounding=1, fixed=False)
    assert item.helptext.splitlines() == [
        "Extra weight.", "Select an integer between 1 and 40", "[Default: 3]",
        "This option can be changed for an existing model."]
    listed = ConfigItem(datatype=list, default=["encoder", "decoder_a"], group="g", info="i",
                        choices=["encoder", "decoder_a"])
    assert listed.to_ini() == "encoder, decoder_a"


def test_unavailable_values_are_not_offered_and_refused_with_the_reason():
    """A value Faceswap offers that could only be refused here is neither a choice nor in the
    help; setting it (in any case) gives the reason, the values to choose and the default."""
    item = _named(ConfigItem(datatype=str, default="mp4", group="g", info="The container.",
                             choices=["mkv", "mp4"],
                             unavailable={"webm": "It holds no H.264 video."}))
    assert "webm" not in item.helptext and "Choose from: mkv, mp4" in item.helptext
    with pytest.raises(ConfigError, match=r"'WebM' of option 'section.option' is not available "
                                          r"here: It holds no H.264 video\. Choose one of "
                                          r"\['mkv', 'mp4'\].*default \(mp4\)"):
        item.set("WebM")
    with pytest.raises(ConfigError, match=r"Invalid value 'avi'.*expected one of"):
        item.set("avi")
    assert item() == "mp4"
