"""Sections of :class:`ConfigItem` objects, read from and written to an ini file."""
from __future__ import annotations

import configparser
import difflib
import logging
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from lib.config.config_item import ConfigItem
from lib.errors import ConfigError
from lib.utils import write_atomic

__all__ = ["Config", "ConfigSection", "GlobalSection", "class_items", "module_items"]

logger = logging.getLogger(__name__)

_WIDTH = 99


class GlobalSection:
    """Base of a class whose ConfigItem class attributes form one configuration section.

    Faceswap 3 plugins read them as ``Loss.learn_mask()``.
    """

    helptext: str = ""


def module_items(module: ModuleType) -> dict[str, ConfigItem]:
    """The module-level :class:`ConfigItem` objects of a ``_defaults`` module, in file order."""
    return {name: value for name, value in vars(module).items()
            if isinstance(value, ConfigItem) and not name.startswith("_")}


def class_items(cls: type) -> dict[str, ConfigItem]:
    """The :class:`ConfigItem` class attributes of a :class:`GlobalSection`, in class order."""
    return {name: value for name, value in vars(cls).items()
            if isinstance(value, ConfigItem) and not name.startswith("_")}


@dataclass
class ConfigSection:
    """One ini section: its name (``global.loss``), help text and items (option name -> item)."""

    name: str
    helptext: str
    items: dict[str, ConfigItem] = field(default_factory=dict)


class Config:
    """A set of configuration sections backed by one ini file.

    The :class:`ConfigItem` objects are the ones plugins hold, so values read from the file are
    seen at once by ``cfg.option()`` calls.

    Parameters
    ----------
    sections
        The sections.
    optional_prefixes
        Prefixes of section names that may be in a file without being defined here (e.g.
        ``"model."``: the options of a plugin that is not installed); such sections are ignored
        with a warning. Any other unknown section, and any unknown option, is an error.
    """

    def __init__(self, sections: Iterable[ConfigSection] = (),
                 optional_prefixes: Iterable[str] = ()) -> None:
        self._optional_prefixes = tuple(optional_prefixes)
        self._sections: dict[str, ConfigSection] = {}
        self._loaded_from: Path | None = None
        for section in sections:
            self.add_section(section)

    @property
    def sections(self) -> dict[str, ConfigSection]:
        return dict(self._sections)

    def add_section(self, section: ConfigSection) -> None:
        """Add a section and name its items ``<section>.<option>``."""
        if section.name in self._sections:
            raise ValueError(f"Configuration section {section.name!r} is already defined.")
        for option, item in section.items.items():
            item.set_name(f"{section.name}.{option}")
        self._sections[section.name] = section

    def items(self, prefixes: Iterable[str] | None = None) -> dict[str, ConfigItem]:
        """Every item, keyed by option name, of the sections whose name is one of ``prefixes``
        or starts with ``<prefix>.`` (all sections when ``None``)."""
        result: dict[str, ConfigItem] = {}
        for name, section in self._sections.items():
            if prefixes is not None and not any(
                    name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes):
                continue
            result.update(section.items)
        return result

    def reset(self) -> None:
        """Every item back to its default; the next :meth:`load_once` reads a file again."""
        for section in self._sections.values():
            for item in section.items.values():
                item.reset()
        self._loaded_from = None

    def load_once(self, path: str | Path, what: str = "config") -> None:
        """:meth:`load` the file at ``path`` unless a file was already loaded since the last
        :meth:`reset`; a different path is then ignored with a warning naming both (``what``
        names the configuration in it, e.g. ``"training config"``)."""
        path = Path(path)
        if self._loaded_from is not None:
            if path.resolve() != self._loaded_from:
                logger.warning("The %s was already loaded from '%s'; ignoring '%s'. Call "
                               "reset_config() first to load another file.", what,
                               self._loaded_from, path)
            return
        self.load(path)
        self._loaded_from = path.resolve()
        logger.debug("Loaded %s from '%s'", what, path)

    def update(self, section: str, values: Mapping[str, Any]) -> None:
        """Set several options of one section; an invalid value raises ConfigError."""
        items = self._sections[section].items
        for option, value in values.items():
            items[option].set(value)

    def load(self, path: str | Path) -> None:
        """Read the ini file at ``path`` into the items; write it (with help and defaults) when it
        does not exist, and add options it lacks.

        Raises
        ------
        lib.errors.ConfigError
            If the file cannot be parsed, holds an unknown section or option (a misspelt name
            would otherwise be silently ignored), or an invalid value. The message names the
            file, the section, the option, the allowed values and the value found. Nothing is
            written then.

        Faceswap compat: Faceswap drops unknown sections and options when it rewrites the file;
        we refuse them (a section named with one of ``optional_prefixes`` is only ignored).
        """
        path = Path(path)
        if not path.exists():
            logger.info("No configuration file at '%s'. Writing one with the defaults.", path)
            self.save(path)
            return
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as err:
            raise ConfigError(f"The configuration file '{path}' cannot be read: {err}. Fix it, or "
                              "delete it to have one written with the defaults.") from err
        self._check_names(parser, path)
        missing = False
        for name, section in self._sections.items():
            if not parser.has_section(name):
                missing = True
                continue
            for option, item in section.items.items():
                if not parser.has_option(name, option):
                    missing = True
                    continue
                try:
                    item.set(parser.get(name, option))
                except ConfigError as err:
                    raise ConfigError(f"In the configuration file '{path}', section [{name}]: "
                                      f"{err}") from err
        if missing:
            logger.info("Adding missing options to the configuration file '%s'.", path)
            self.save(path)

    def _check_names(self, parser: configparser.ConfigParser, path: Path) -> None:
        """Refuse unknown sections and options (ignore optional sections with a warning)."""
        for name in parser.sections():
            if name in self._sections:
                known = self._sections[name].items
                for option in parser.options(name):
                    if option not in known:
                        raise ConfigError(
                            f"In the configuration file '{path}', section [{name}]: unknown "
                            f"option '{option}'.{_suggest(option, known)} Allowed options: "
                            f"{', '.join(known)}. Correct or delete the line.")
            elif name.startswith(self._optional_prefixes):
                logger.warning("Ignoring section [%s] in '%s': nothing installed uses it (a "
                               "plugin that is not installed?).", name, path)
            else:
                raise ConfigError(
                    f"The configuration file '{path}' has an unknown section [{name}]."
                    f"{_suggest(name, self._sections)} Known sections: "
                    f"{', '.join(f'[{known}]' for known in self._sections)}. Correct the "
                    "section name or delete the section.")

    def save(self, path: str | Path) -> None:
        """Write every section, with help text, to ``path`` (atomically)."""
        lines: list[str] = []
        for name, section in self._sections.items():
            if section.helptext:
                lines.extend(_comment(section.helptext))
            lines.append(f"[{name}]")
            for option, item in section.items.items():
                lines.extend(_comment(item.helptext))
                lines.append(f"{option} = {item.to_ini()}")
                lines.append("")
            lines.append("")
        write_atomic(Path(path), "\n".join(lines).rstrip() + "\n")


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _comment(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.strip().splitlines():
        lines.extend(textwrap.wrap(paragraph, width=_WIDTH - 2, initial_indent="# ",
                                   subsequent_indent="# ") or ["#"])
    return lines
