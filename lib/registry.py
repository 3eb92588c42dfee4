"""The single place where custom Keras objects are registered for serialization."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keras

__all__ = ["PACKAGE", "register_serializable"]

PACKAGE = "faceswap"
"""The package part of every registered name (``faceswap>PixelShuffler``)."""

_T = TypeVar("_T")


def _qualified(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def register_serializable() -> Callable[[_T], _T]:
    """Class decorator: register a layer, loss, initializer or optimizer with Keras.

    The class is registered as ``faceswap>ClassName``, so ``.keras`` files load without a
    ``custom_objects`` argument once the defining module is imported.

    Faceswap compat: Faceswap puts its classes into ``keras.saving.get_custom_objects()`` under
    the bare class name, and the files it saves refer to them that way. We register that alias
    too, so a ``.keras`` file saved by Faceswap loads here.
    """
    keras_register = keras.saving.register_keras_serializable(package=PACKAGE)

    def decorator(cls: _T) -> _T:
        name = cls.__name__  # type: ignore[attr-defined]
        existing = keras.saving.get_custom_objects().get(name)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ValueError(
                f"Cannot register {_qualified(cls)} under the name {name!r}: it is already taken "
                f"by {_qualified(existing)}. Give the class another name.")
        cls = keras_register(cls)
        keras.saving.get_custom_objects()[name] = cls
        return cls

    return decorator
