"""Finding and loading the pretrained weight files of :mod:`lib.model.networks`.

Faceswap downloads converted weights from its GitHub releases at build time. We know of no
download location we can vouch for, so the files are looked up in a local cache folder and a
missing file is a :class:`~lib.errors.FaceswapError` that says where to put it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import keras

from lib.errors import FaceswapError

__all__ = ["CACHE_ENVIRONMENT_VARIABLE", "load_pretrained_weights", "model_cache_folder"]

logger = logging.getLogger(__name__)

CACHE_ENVIRONMENT_VARIABLE = "FACESWAP_MODEL_CACHE"
"""The environment variable that overrides the default cache folder."""

_DEFAULT_CACHE = Path("~", ".cache", "faceswap-original", "models")


def model_cache_folder() -> Path:
    """The folder that holds pretrained weight files.

    ``$FACESWAP_MODEL_CACHE`` when it is set and not empty, otherwise
    ``~/.cache/faceswap-original/models``. The folder is neither created nor checked here.
    """
    folder = os.environ.get(CACHE_ENVIRONMENT_VARIABLE, "").strip()
    return Path(folder).expanduser() if folder else _DEFAULT_CACHE.expanduser()


def load_pretrained_weights(model: keras.Model, filename: str, description: str,
                            alternative: str) -> Path:
    """Load ``filename`` from the model cache folder into ``model``.

    Parameters
    ----------
    model
        The built model to load the weights into.
    filename
        The weights file name, ending ``.weights.h5`` (Keras 3's weights format).
    description
        What the weights are, for messages (``"CLIP ViT-B-32"``).
    alternative
        What the user can do instead of providing the file, appended to the message.

    Returns
    -------
    The path of the file that was loaded.

    Raises
    ------
    FaceswapError
        If the file is missing or Keras cannot load it into ``model``.
    """
    folder = model_cache_folder()
    path = folder / filename
    if not path.is_file():
        raise FaceswapError(
            f"Pretrained weights for {description} were requested, but the file '{path}' does "
            f"not exist. faceswap-original does not download weights: put a Keras weights file "
            f"named '{filename}' in '{folder}' (set the environment variable "
            f"{CACHE_ENVIRONMENT_VARIABLE} to use another folder), or {alternative}.")
    logger.debug("Loading %s weights from '%s'", description, path)
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as err:
        raise FaceswapError(
            f"The pretrained weights file '{path}' for {description} could not be loaded into "
            f"the model ({type(err).__name__}: {err}). Replace the file with weights saved from "
            f"this architecture, or {alternative}.") from err
    logger.info("Loaded pretrained %s weights from '%s'", description, path)
    return path
