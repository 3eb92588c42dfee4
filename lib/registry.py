"""The single place where custom Keras objects are registered for serialization."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keras

__all__ = ["PACKAGE", "register_serializable"]

PACKAGE = "faceswap"
"""The package part of the older spelling of a registered name (``faceswap>PixelShuffler``),
which files saved by earlier versions of this project hold; it still loads."""

_T = TypeVar("_T")


def _qualified(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def register_serializable() -> Callable[[_T], _T]:
    """Class decorator: register a layer, loss, initializer or optimizer with Keras.

    The class goes into ``keras.saving.get_custom_objects()`` under its bare class name, as
    Faceswap 3 registers its classes, so the files we save name it the way Faceswap 3 looks it
    up (``"registered_name": "PixelShuffler"``, ``"module": "lib.model.layers"``) and Faceswap 3
    opens them. The older spelling ``faceswap>ClassName``, which files saved by earlier versions
    of this project hold, is registered too, so those files still load. No ``custom_objects``
    argument is needed once the defining module is imported.

    Raises
    ------
    ValueError
        If another class already holds the name (Keras would resolve one of them wrongly).
    """
    def decorator(cls: _T) -> _T:
        name = cls.__name__  # type: ignore[attr-defined]
        objects = keras.saving.get_custom_objects()
        keys = (name, f"{PACKAGE}>{name}")
        for key in keys:
            existing = objects.get(key)
            if existing is not None and _qualified(existing) != _qualified(cls):
                raise ValueError(
                    f"Cannot register {_qualified(cls)} under the name {key!r}: it is already "
                    f"taken by {_qualified(existing)}. Give the class another name.")
        for key in keys:
            objects[key] = cls
        return cls

    return decorator
