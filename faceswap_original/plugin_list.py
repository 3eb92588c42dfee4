"""The ``plugins`` command: list every model plugin the plugin registry knows."""
from __future__ import annotations

import importlib

__all__ = ["list_plugins"]


def list_plugins() -> int:
    """Print every model plugin (built in and installed) with the first line of its help text:
    the ``HELPTEXT`` of its ``_defaults`` module, else the ``Model`` class's docstring. Each
    plugin is loaded, so a broken one is reported (:class:`~lib.errors.PluginLoadError`)."""
    from plugins.plugin_loader import PluginLoader
    from plugins.plugin_registry import MODELS
    for name in MODELS.names():
        model = PluginLoader.get_model(name, disable_logging=True)
        helptext = ""
        try:
            helptext = importlib.import_module(f"{model.__module__}_defaults").HELPTEXT
        except (ModuleNotFoundError, AttributeError):
            helptext = (model.__doc__ or "").strip()
        first = helptext.strip().splitlines()[0] if helptext.strip() else ""
        print(f"{name:<14} {first}")
    return 0
