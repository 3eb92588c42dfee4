"""Faceswap 3's typed configuration option, :class:`ConfigItem`."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lib.errors import ConfigError

__all__ = ["ConfigItem"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_DATATYPES = (str, bool, int, float, list)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_COLOR = re.compile(r"^#[0-9a-f]{6}$")
COLOR_CHOOSER = "colorchooser"
"""``choices`` value of a str item whose value is a ``#rrggbb`` colour."""


@dataclass
class ConfigItem(Generic[T]):
    """One configuration option: its type, default, help and allowed values, and its value.

    Plugins read an option by calling it (``cfg.lowmem()``), as in Faceswap 3. String values and
    list elements come back in lower case.

    Parameters
    ----------
    datatype
        One of ``str``, ``bool``, ``int``, ``float`` or ``list``.
    default
        The value until another is set.
    group
        The option's group within its section (for help and GUIs).
    info
        Help text.
    choices
        Allowed values of a ``str`` or ``list`` option (required for ``list``), or
        ``"colorchooser"`` for a ``#rrggbb`` colour.
    gui_radio
        Whether a GUI shows the choices as radio buttons.
    min_max
        ``(min, max)`` of an ``int`` or ``float`` option (required for both).
    rounding
        Decimal places of a ``float`` (values are rounded to them) or the step of an ``int``
        (for GUIs). Required and positive for both.
    fixed
        ``True``: the value is stored in a model's state file when the model is created and wins
        over later edits of the configuration file. ``False``: the configuration file always
        wins.
    unavailable
        Values of a ``str`` option that Faceswap offers but that could only be refused here
        (value -> why, and what to choose instead). They are not offered (neither among
        ``choices`` nor in the help); setting one raises a ``ConfigError`` with the reason
        instead of the plain "not allowed".

    Raises
    ------
    ValueError
        On an inconsistent declaration (a programmer error in a ``_defaults`` module).
    """

    datatype: type
    default: T
    group: str
    info: str
    choices: list[str] | str = field(default_factory=list)
    gui_radio: bool = False
    min_max: tuple[int, int] | tuple[float, float] | None = None
    rounding: int = -1
    fixed: bool = True
    unavailable: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.datatype not in _DATATYPES:
            raise ValueError(f"`datatype` must be one of {[t.__name__ for t in _DATATYPES]}. "
                             f"Received: {self.datatype!r}")
        if not self.group or not self.info:
            raise ValueError("`group` and `info` must not be empty.")
        if self.datatype in (int, float):
            if self.rounding <= 0:
                raise ValueError(f"A {self.datatype.__name__} option needs `rounding` > 0. "
                                 f"Received: rounding={self.rounding}")
            if self.min_max is None or len(self.min_max) != 2:
                raise ValueError(f"A {self.datatype.__name__} option needs `min_max` as a "
                                 f"(min, max) pair. Received: min_max={self.min_max!r}")
        if self.datatype is list and not self.choices:
            raise ValueError("A list option needs `choices`.")
        if isinstance(self.choices, str) and self.choices != COLOR_CHOOSER:
            raise ValueError(f"`choices` must be a list or {COLOR_CHOOSER!r}. "
                             f"Received: {self.choices!r}")
        if self.unavailable and (self.datatype is not str or not isinstance(self.choices, list)
                                 or not self.choices):
            raise ValueError("`unavailable` needs a str option with a list of `choices`.")
        offered = [str(choice).lower() for choice in self.choices]
        clash = [value for value in self.unavailable if value.lower() in offered]
        if clash:
            raise ValueError(f"`unavailable` values must not be among `choices`: {clash}")
        self._name = ""
        self._value: Any = None
        self._value = self._convert(self.default, "the default")

    # --- reading -------------------------------------------------------------------------------
    def __call__(self) -> T:
        return self.value

    def get(self) -> T:
        """The current value (as calling the item)."""
        return self.value

    @property
    def value(self) -> T:
        """The current value; strings and list elements in lower case."""
        if isinstance(self._value, list):
            return [item.lower() for item in self._value]  # type: ignore[return-value]
        if isinstance(self._value, str):
            return self._value.lower()  # type: ignore[return-value]
        return self._value

    @property
    def name(self) -> str:
        """``"<section>.<option>"`` once :meth:`set_name` was called, else ``""``."""
        return self._name

    @property
    def helptext(self) -> str:
        """The help text with the allowed values and the default, for the ini file."""
        lines = [self.info.strip()]
        if isinstance(self.choices, list) and self.choices:
            lines.append(f"Choose from: {', '.join(str(c) for c in self.choices)}")
        elif self.choices == COLOR_CHOOSER:
            lines.append("A colour as #rrggbb")
        if self.min_max is not None:
            lines.append(f"Select {self._kind()} between {self.min_max[0]} and "
                         f"{self.min_max[1]}")
        lines.append(f"[Default: {self._format(self.default)}]")
        if not self.fixed:
            lines.append("This option can be changed for an existing model.")
        return "\n".join(lines)

    # --- writing -------------------------------------------------------------------------------
    def set_name(self, name: str) -> None:
        """Give the item its full name (``"global.loss.learn_mask"``), used in messages."""
        self._name = name

    def set(self, value: Any) -> None:
        """Validate and set a new value.

        Strings are converted to the option's type (``"true"``, ``"5e-5"``, ``"a, b"``).

        Raises
        ------
        lib.errors.ConfigError
            If the value has the wrong type or is not allowed. The message names the option, the
            allowed values and the value found.
        """
        if not self._name:
            raise ValueError("ConfigItem.set() needs set_name() to be called first.")
        self._value = self._convert(value, f"option '{self._name}'")

    def reset(self) -> None:
        """Return to the default value."""
        self._value = self._convert(self.default, "the default")

    def to_ini(self) -> str:
        """The current value as written in an ini file."""
        return self._format(self._value)

    # --- helpers -------------------------------------------------------------------------------
    def _format(self, value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return str(value)

    def _allowed(self) -> str:
        if isinstance(self.choices, list) and self.choices:
            return f"one of {sorted(str(choice) for choice in self.choices)}"
        if self.choices == COLOR_CHOOSER:
            return "a colour written as #rrggbb"
        if self.min_max is not None:
            return f"{self._kind()} between {self.min_max[0]} and {self.min_max[1]}"
        if self.datatype is bool:
            return "True or False"
        return self._kind()

    def _kind(self) -> str:
        return {int: "an integer", float: "a number", str: "a string", bool: "a boolean",
                list: "a list"}[self.datatype]

    def _error(self, what: str, value: Any) -> ConfigError:
        return ConfigError(f"Invalid value {value!r} for {what}: expected {self._allowed()}. "
                           "Correct it in the configuration file, or delete the line to use the "
                           f"default ({self._format(self.default)}).")

    def _convert(self, value: Any, what: str) -> Any:
        """``value`` converted to the option's type and checked, or a ConfigError."""
        converter = {bool: self._to_bool, int: self._to_number, float: self._to_number,
                     str: self._to_str, list: self._to_list}[self.datatype]
        return converter(value, what)

    def _to_bool(self, value: Any, what: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise self._error(what, value)

    def _to_number(self, value: Any, what: str) -> int | float:
        if isinstance(value, bool):
            raise self._error(what, value)
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError) as err:
            raise self._error(what, value) from err
        if self.datatype is int:
            if not number.is_integer():
                raise self._error(what, value)
            number = int(number)
        else:
            number = round(number, self.rounding)
        low, high = self.min_max  # type: ignore[misc]
        if not low <= number <= high:
            raise self._error(what, value)
        return number

    def _to_str(self, value: Any, what: str) -> str:
        if not isinstance(value, str):
            raise self._error(what, value)
        text = value.strip()
        if self.choices == COLOR_CHOOSER:
            if not _COLOR.match(text.lower()):
                raise self._error(what, value)
        elif self.choices and text.lower() not in [str(c).lower() for c in self.choices]:
            reason = {key.lower(): why for key, why in self.unavailable.items()}.get(
                text.lower())
            if reason is not None:
                raise ConfigError(f"The value {value!r} of {what} is not available here: "
                                  f"{reason} Choose {self._allowed()}, or delete the line to use "
                                  f"the default ({self._format(self.default)}).")
            raise self._error(what, value)
        return text

    def _to_list(self, value: Any, what: str) -> list[str]:
        if isinstance(value, str):
            items = [item for item in re.split(r"[,\s]+", value.strip()) if item]
        elif isinstance(value, (list, tuple)):
            items = [str(item).strip() for item in value]
        else:
            raise self._error(what, value)
        allowed = [str(choice).lower() for choice in self.choices]
        unknown = [item for item in items if item.lower() not in allowed]
        if unknown:
            raise self._error(what, value)
        # Faceswap compat: Faceswap passes lists through a set (order lost); we keep the first
        # occurrence of each item in the given order.
        return list(dict.fromkeys(items))
