"""The single place where custom Keras objects are registered for serialization."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keras

__all__ = ["PACKAGE", "register_serializable"]

PACKAGE = "faceswap"
"""The package part of every registered name (``faceswap>PixelShuffler``)."""

_T = TypeVar("_T")


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
        cls = keras_register(cls)
        name = cls.__name__  # type: ignore[attr-defined]
        custom_objects = keras.saving.get_custom_objects()
        existing = custom_objects.get(name)
        if existing is not None and existing is not cls and (
                getattr(existing, "__module__", None) != cls.__module__
                or getattr(existing, "__qualname__", None) != cls.__qualname__):  # type: ignore
            raise ValueError(
                f"Cannot register {cls!r} under the bare name {name!r}: it is already taken by "
                f"{existing!r}.")
        custom_objects[name] = cls
        return cls

    return decorator
