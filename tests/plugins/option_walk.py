"""The walk over every option of an ini file (issue 17, "no dead option"): a table with one
:class:`OptionRow` per option, each building what the option feeds with two valid values and
asserting that something observable differs, or the option listed in docs/differences.md
(section "Options that change nothing here") with the reason. The list is parsed from that file,
so the documentation and the test cannot drift apart."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib.config import Config
from tests.plugins.train.model.plugin_helpers import write_ini

DIFFERENCES = Path(__file__).resolve().parents[2] / "docs" / "differences.md"
_HEADING = "## Options that change nothing here"
_ENTRY = re.compile(r"^\* `\[(?P<section>[\w.]+)\] (?P<option>\w+)`: (?P<reason>\S.*)$")

Options = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class OptionRow:
    """One option and how to see what it does.

    Parameters
    ----------
    section, option
        The ini section and option.
    values
        Two valid values that must give different observations.
    probe
        Builds what the option feeds, with the ini options given, in a scratch folder, and
        returns something observable (a number, an array, a tuple of them, a model's JSON...).
    base
        Other options of the same file set for both values (e.g. ``loss_weight_3`` for
        ``loss_function_3``): where the option acts only together with another.
    slow
        Runs only with ``--runslow`` (probes that build a large model or encode video).
    """

    section: str
    option: str
    values: tuple[Any, Any]
    probe: Callable[[Options, Path], Any]
    base: Options = field(default_factory=dict)
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.section}.{self.option}"

    def options(self, value: Any) -> Options:
        """The ini options of one run: :attr:`base` with the option set to ``value``."""
        options = {section: dict(values) for section, values in self.base.items()}
        options.setdefault(self.section, {})[self.option] = value
        return options


def table(rows: list[OptionRow]) -> list[Any]:
    """The rows as ``pytest.param`` objects (ids ``<section>.<option>``, slow rows marked)."""
    return [pytest.param(row, id=row.id, marks=[pytest.mark.slow] if row.slow else [])
            for row in rows]


def documented() -> dict[tuple[str, str], str]:
    """``(section, option) -> reason`` of every entry of the "Options that change nothing
    here" section of docs/differences.md."""
    text = DIFFERENCES.read_text(encoding="utf-8")
    assert _HEADING in text, f"{DIFFERENCES} lacks the section {_HEADING!r}"
    body = text.split(_HEADING, 1)[1].split("\n## ", 1)[0]
    entries = {}
    for line in body.splitlines():
        match = _ENTRY.match(line)
        if match:
            entries[(match["section"], match["option"])] = match["reason"]
    return entries


def config_options(config: Config, prefixes: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """Every ``(section, option)`` of ``config`` (of the sections named by ``prefixes``, all
    when empty)."""
    return {(name, option) for name, section in config.sections.items()
            if not prefixes or name.startswith(prefixes) for option in section.items}


def check_complete(config: Config, rows: list[OptionRow], prefixes: tuple[str, ...] = ()
                   ) -> None:
    """Every option of ``config`` has a row or a documented reason, and every row and entry
    names an option that exists."""
    options = config_options(config, prefixes)
    tested = {(row.section, row.option) for row in rows}
    assert len(tested) == len(rows), "an option has two rows"
    notes = {key for key in documented() if not prefixes or key[0].startswith(prefixes)}
    missing = options - tested - notes
    assert not missing, (f"options with neither a row in the walk nor an entry in "
                         f"{DIFFERENCES.name}: {sorted(missing)}")
    unknown = (tested | notes) - options
    assert not unknown, f"rows or entries for options that do not exist: {sorted(unknown)}"
    for row in rows:
        item = config.sections[row.section].items[row.option]
        for value in row.values:  # both values are valid
            item.set(value)
        item.reset()


def differ(first: Any, second: Any) -> bool:
    """Whether two observations differ (arrays by value, containers item by item)."""
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        return first.keys() != second.keys() or any(differ(first[key], second[key])
                                                    for key in first)
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) != len(second) or any(differ(a, b)
                                                for a, b in zip(first, second, strict=True))
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        first, second = np.asarray(first), np.asarray(second)
        return first.shape != second.shape or not np.array_equal(first, second)
    return bool(first != second)


def run_row(row: OptionRow, tmp_path: Path) -> None:
    """Observe ``row``'s probe with each of its values; the observations must differ."""
    seen = [row.probe(row.options(value), tmp_path / f"value_{index}")
            for index, value in enumerate(row.values)]
    assert differ(*seen), (f"[{row.section}] {row.option} = {row.values[0]!r} and "
                           f"{row.values[1]!r} give the same result: a dead option?")


def ini(options: Options, folder: Path, name: str) -> Path:
    """Write ``options`` to ``folder/name`` (made if missing); returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_ini(folder / name, options)
