"""Faceswap's logging additions: the ``VERBOSE`` and ``TRACE`` levels and ``parse_class_init``.

Importing this module registers the two levels and gives every :class:`logging.Logger` the
methods ``verbose()`` and ``trace()``, as Faceswap's logger class does. Handlers and levels are
configured only by the application (``faceswap_original``), never here.
"""
from __future__ import annotations

import logging
from typing import Any

__all__ = ["TRACE", "VERBOSE", "parse_class_init"]

VERBOSE = 15
"""Between DEBUG and INFO: detail a user may want, e.g. model summaries."""
TRACE = 5
"""Below DEBUG: very chatty internals."""

_MAX_VALUE_LENGTH = 80

logging.addLevelName(VERBOSE, "VERBOSE")
logging.addLevelName(TRACE, "TRACE")


def _verbose(self: logging.Logger, msg: object, *args: Any, **kwargs: Any) -> None:
    if self.isEnabledFor(VERBOSE):
        self._log(VERBOSE, msg, args, **kwargs)  # pylint:disable=protected-access


def _trace(self: logging.Logger, msg: object, *args: Any, **kwargs: Any) -> None:
    if self.isEnabledFor(TRACE):
        self._log(TRACE, msg, args, **kwargs)  # pylint:disable=protected-access


# Faceswap compat: Faceswap installs a Logger subclass with these methods. Adding them to the base
# class instead also covers loggers created before this module was imported.
logging.Logger.verbose = _verbose  # type: ignore[attr-defined]
logging.Logger.trace = _trace  # type: ignore[attr-defined]


def _describe(value: Any) -> str:
    """A short, single-line description of a value for a debug message."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (str, bytes)):
        return f"<{type(value).__name__} shape={tuple(shape)}>"
    text = repr(value).replace("\n", " ")
    if len(text) > _MAX_VALUE_LENGTH:
        text = text[:_MAX_VALUE_LENGTH - 3] + "..."
    return text


def parse_class_init(locals_dict: dict[str, Any]) -> str:
    """A debug line describing a class being initialised, from its ``__init__``'s ``locals()``.

    Examples
    --------
    >>> class Block:
    ...     def __init__(self, filters, name=None):
    ...         self.line = parse_class_init(locals())
    >>> Block(64).line
    'Initializing Block (filters: 64, name: None)'
    """
    owner = locals_dict.get("self")
    name = type(owner).__name__ if owner is not None else "object"
    arguments = {key: value for key, value in locals_dict.items()
                 if key not in ("self", "__class__")}
    kwargs = arguments.pop("kwargs", None)
    if isinstance(kwargs, dict):
        arguments.update(kwargs)
    described = ", ".join(f"{key}: {_describe(value)}" for key, value in arguments.items())
    return f"Initializing {name}" + (f" ({described})" if described else "")
