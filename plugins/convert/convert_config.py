"""The options of the convert plugins, read from ``convert.ini`` as ``train.ini`` is read.

Sections, as in Faceswap 3's ``convert.ini`` (a plugin without options has no section):

* ``color.match_hist``: :mod:`plugins.convert.color.match_hist_defaults`
* ``mask.mask_blend``: :mod:`plugins.convert.mask.mask_blend_defaults`
* ``writer.ffmpeg``: :mod:`plugins.convert.writer.ffmpeg_defaults`
* ``writer.opencv``: :mod:`plugins.convert.writer.opencv_defaults`

Plugins read their options by calling the items (``mask_blend_defaults.passes()``).

Faceswap compat: Faceswap's ``convert.ini`` also has sections for the plugins not ported here
(``color.color_transfer``, ``color.manual_balance``, ``scaling.sharpen``, ``writer.gif``,
``writer.patch``, ``writer.pillow``); a file that has them is read with a warning that they are
ignored.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from lib.config import Config, ConfigSection, module_items
from plugins.convert.color import match_hist_defaults
from plugins.convert.mask import mask_blend_defaults
from plugins.convert.writer import ffmpeg_defaults, opencv_defaults

__all__ = ["default_config_file", "get_config", "load_config", "reset_config"]

logger = logging.getLogger(__name__)

_SECTIONS = (("color.match_hist", match_hist_defaults),
             ("mask.mask_blend", mask_blend_defaults),
             ("writer.ffmpeg", ffmpeg_defaults),
             ("writer.opencv", opencv_defaults))
_NOT_PORTED = ("color.color_transfer", "color.manual_balance", "scaling.", "writer.gif",
               "writer.patch", "writer.pillow")
_CONFIG: Config | None = None


def default_config_file() -> Path:
    """``$FACESWAP_CONFIG_DIR/convert.ini``, else
    ``$XDG_CONFIG_HOME/faceswap-original/convert.ini`` (``~/.config/...`` by default): beside
    ``train.ini`` (see :func:`plugins.train.train_config.default_config_file`)."""
    folder = os.environ.get("FACESWAP_CONFIG_DIR")
    if folder:
        return Path(folder) / "convert.ini"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "faceswap-original" / "convert.ini"


def get_config() -> Config:
    """The process-wide convert :class:`~lib.config.Config` (defaults until
    :func:`load_config`)."""
    global _CONFIG  # one configuration per process, as Faceswap
    if _CONFIG is None:
        _CONFIG = Config([ConfigSection(name, module.HELPTEXT, module_items(module))
                          for name, module in _SECTIONS], optional_prefixes=_NOT_PORTED)
    return _CONFIG


def load_config(config_file: str | Path | None = None) -> Config:
    """Read ``convert.ini`` into the option objects, once per process.

    Parameters
    ----------
    config_file
        The ini file (Faceswap's ``-C/--configfile``); :func:`default_config_file` when
        ``None``. It is written with help text and defaults when missing.

    Raises
    ------
    lib.errors.ConfigError
        For an unreadable file, an unknown section or option, or an invalid value.
    """
    config = get_config()
    path = Path(config_file) if config_file else default_config_file()
    config.load_once(path, "convert config")
    return config


def reset_config() -> None:
    """Every option back to its default; the next :func:`load_config` reads a file again."""
    get_config().reset()
