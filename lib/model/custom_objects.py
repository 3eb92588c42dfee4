"""One import that registers every custom object our model files may name.

``import lib.model.custom_objects`` is all that ``keras.saving.load_model`` needs to open a
``.keras`` file that this project (or Faceswap 3) saved, with its compile state::

    import keras
    import lib.model.custom_objects  # registers our layers, initializers, losses, optimizers

    model = keras.saving.load_model("original.keras", safe_mode=True)

Importing it imports every module that registers classes with Keras (through
:func:`lib.registry.register_serializable`): the layers, initializers, normalizations, losses,
optimizers, AutoClip and the pretrained networks' layers, and :mod:`lib.model.nn_blocks`, whose
block classes build models from those layers (the blocks themselves are not stored in a file:
a saved model holds only Keras's layers and the registered ones). ``lib.model`` itself stays
light (its backup module does not load Keras), so the registration is this module's job.
"""
from __future__ import annotations

from typing import Any

import keras

# Imported for their registration side effect; re-exported through get_custom_objects().
from lib.model import (  # noqa: F401
    autoclip,
    initializers,
    layers,
    losses,
    nn_blocks,
    normalization,
    optimizers,
)
from lib.model.networks import clip, simple_nets  # noqa: F401
from lib.registry import PACKAGE

__all__ = ["get_custom_objects"]


def get_custom_objects() -> dict[str, Any]:
    """Our registered classes by the name files store them under (``"PixelShuffler"``), for
    callers that pass ``custom_objects`` explicitly (the older ``faceswap>`` spellings, which
    resolve as well, are left out)."""
    return {name: obj for name, obj in keras.saving.get_custom_objects().items()
            if not name.startswith(f"{PACKAGE}>")
            and getattr(obj, "__module__", "").startswith("lib.")}
