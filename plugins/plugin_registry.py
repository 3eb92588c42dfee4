"""The one registry of plugins: which model and trainer plugins exist and where each comes from.

Built-in plugins are the modules of a plugin package (``plugins/train/model/<name>.py``, not
starting with ``_`` and not ending in ``_defaults`` or ``_config``, which hold options).
Installed packages add model plugins through the entry point group ``faceswap_original.models``::

    [project.entry-points."faceswap_original.models"]
    my_model = "my_package.my_model"          # a module holding a ``Model`` class
    other = "my_package.models:OtherModel"    # or the class itself

The package and the entry points are read once and cached (as xarray's backend plugins and
timm's model registry are); :func:`refresh` reads them again, after installing a package in a
running process. The loader (:mod:`plugins.plugin_loader`), the training configuration's
``<name>_defaults`` discovery (:mod:`plugins.train.train_config`) and the ``plugins`` command all
ask this registry, so they always agree.

Conflicts are resolved the same way everywhere and reported once per scan, naming every
candidate: a built-in plugin wins over an entry point of the same name, and of several entry
points with one name (from different packages) the first that ``importlib.metadata`` lists wins.
Entry points that repeat the same target (a package found twice on the path) are one candidate.
Plugin names are plain identifiers (letters, digits and ``_``), so a name can never reach a
module outside the plugin packages; an entry point with another name is ignored with a warning.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MODEL_ENTRY_POINT_GROUP = "faceswap_original.models"
"""The entry point group that installed packages declare their model plugins in."""
NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""What a plugin name is: lower case letters, digits and ``_``, not starting with a digit."""


@dataclass(frozen=True)
class PluginSpec:
    """Where one plugin comes from.

    Parameters
    ----------
    name
        The plugin's name (``"original"``).
    target
        What to import: ``"plugins.train.model.original"``, or an entry point's value
        (``"my_package.models:OtherModel"``).
    entry_point
        The entry point that declares the plugin; ``None`` for a built-in plugin.
    """
    name: str
    target: str
    entry_point: importlib.metadata.EntryPoint | None = None

    @property
    def builtin(self) -> bool:
        """Whether the plugin ships in the plugin package."""
        return self.entry_point is None

    @property
    def module(self) -> str:
        """The module that holds the plugin (the target without its ``:attribute``)."""
        return self.target.split(":", 1)[0].strip()

    @property
    def source(self) -> str:
        """Where the plugin comes from, in words (for listings and messages)."""
        if self.entry_point is None:
            return "built-in"
        dist = getattr(self.entry_point, "dist", None)
        package = getattr(dist, "name", None) if dist is not None else None
        return f"entry point {self.target}" + (f" (package {package})" if package else "")


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    return PluginSpec(entry_point.name, entry_point.value, entry_point).source


class PluginRegistry:
    """The plugins of one kind, found once and cached.

    Parameters
    ----------
    kind
        ``"model"`` or ``"trainer"`` (used in messages).
    package
        The package whose modules are the built-in plugins (``"plugins.train.model"``).
    group
        The entry point group of installed plugins; ``None`` for built-in plugins only.
    """

    def __init__(self, kind: str, package: str, group: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self.group = group
        self._specs: dict[str, PluginSpec] | None = None
        self._defaults: dict[str, str] | None = None

    def refresh(self) -> None:
        """Forget what was found: the next question scans the package and entry points again."""
        self._specs = None
        self._defaults = None

    def _package_modules(self) -> list[str]:
        module = importlib.import_module(self.package)
        return sorted(info.name for info in pkgutil.iter_modules(module.__path__)
                      if not info.name.startswith("_"))

    def _scan(self) -> dict[str, PluginSpec]:
        specs = {name: PluginSpec(name, f"{self.package}.{name}")
                 for name in self._package_modules()
                 if not name.endswith(("_defaults", "_config"))}
        if self.group is None:
            return specs
        candidates: dict[str, list[importlib.metadata.EntryPoint]] = {}
        for entry_point in importlib.metadata.entry_points(group=self.group):
            if not NAME.fullmatch(entry_point.name):
                logger.warning("Ignoring the %s plugin entry point '%s' (from '%s'): a plugin "
                               "name must be lower case letters, digits and '_'.",
                               self.kind, entry_point.name, entry_point.value)
                continue
            found = candidates.setdefault(entry_point.name, [])
            if all(other.value != entry_point.value for other in found):
                found.append(entry_point)
        for name, entry_points in candidates.items():
            described = "; ".join(_describe(entry_point) for entry_point in entry_points)
            if name in specs:
                logger.warning("The %s plugin name '%s' is both built in (%s) and declared by "
                               "%s. The built-in plugin is used.", self.kind, name,
                               specs[name].target, described)
                continue
            if len(entry_points) > 1:
                logger.warning("%d installed packages declare a %s plugin named '%s': %s. The "
                               "first, %s, is used; uninstall the others or rename their entry "
                               "points.", len(entry_points), self.kind, name, described,
                               entry_points[0].value)
            specs[name] = PluginSpec(name, entry_points[0].value, entry_points[0])
        return specs

    @property
    def specs(self) -> dict[str, PluginSpec]:
        """Every plugin by name, sorted by name (scanned on first use)."""
        if self._specs is None:
            self._specs = dict(sorted(self._scan().items()))
        return self._specs

    def names(self) -> list[str]:
        """Every plugin's name, sorted."""
        return list(self.specs)

    def get(self, name: str) -> PluginSpec | None:
        """The plugin called ``name`` (already normalised), or ``None``."""
        return self.specs.get(name)

    def defaults_modules(self) -> dict[str, str]:
        """Plugin name -> its ``<name>_defaults`` module (the options of its ``model.<name>``
        config section), sorted by name: every ``_defaults`` module of the package, then the
        ``<module>_defaults`` module beside each installed plugin that has one. A plugin whose
        defaults module fails to import is left out with a warning (loading the plugin reports
        the error itself)."""
        if self._defaults is None:
            found = {name[:-len("_defaults")]: f"{self.package}.{name}"
                     for name in self._package_modules() if name.endswith("_defaults")}
            for name, spec in self.specs.items():
                if spec.builtin or name in found:
                    continue
                module = f"{spec.module}_defaults"
                if self._importable(name, module):
                    found[name] = module
            self._defaults = dict(sorted(found.items()))
        return self._defaults

    def _importable(self, name: str, module: str) -> bool:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a broken plugin: loading it reports the error
                logger.warning("The options of the installed %s plugin '%s' could not be "
                               "read (%s).", self.kind, name, err)
            return False
        except Exception as err:  # noqa: BLE001 - never let a third party break the config
            logger.warning("The options of the installed %s plugin '%s' could not be read "
                           "(%s: %s).", self.kind, name, type(err).__name__, err)
            return False
        return True


MODELS = PluginRegistry("model", "plugins.train.model", MODEL_ENTRY_POINT_GROUP)
"""The model plugins: ``plugins.train.model`` and the ``faceswap_original.models`` entry
points."""
TRAINERS = PluginRegistry("trainer", "plugins.train.trainer")
"""The trainer plugins: ``plugins.train.trainer`` (built in only, as Faceswap)."""


def refresh() -> None:
    """Scan every plugin package and entry point group again on next use (after installing or
    removing a plugin package in a running process)."""
    MODELS.refresh()
    TRAINERS.refresh()


__all__ = ["MODELS", "MODEL_ENTRY_POINT_GROUP", "NAME", "TRAINERS", "PluginRegistry",
           "PluginSpec", "refresh"]
