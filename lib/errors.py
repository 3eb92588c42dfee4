"""The hierarchy of user-actionable errors.

:class:`FaceswapError` is the root (the name is Faceswap's, kept for API fidelity; it is also
importable from :mod:`lib.utils`, where Faceswap plugins look for it). Every message says what is
wrong, what was expected, what was found and what to do. Programmer mistakes inside layers, losses
and blocks raise the built-in ``ValueError``/``TypeError`` instead, as Keras does.
"""
from __future__ import annotations

__all__ = [
    "ConfigError",
    "FaceswapError",
    "ModelFileError",
    "PluginError",
    "PluginLoadError",
    "PluginNotFoundError",
]


class FaceswapError(Exception):
    """A problem the user can fix. The command line prints the message without a traceback and
    exits with status 1."""


class ConfigError(FaceswapError):
    """An invalid configuration file or option value."""


class ModelFileError(FaceswapError):
    """A model file that is missing, truncated, corrupt or belongs to another plugin."""


class PluginError(FaceswapError):
    """A plugin that does not honour the plugin contract."""


class PluginNotFoundError(PluginError):
    """A plugin name that no built-in or installed plugin provides."""


class PluginLoadError(PluginError):
    """A plugin that exists but failed to import."""
