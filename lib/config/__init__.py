"""Faceswap's configuration: typed :class:`ConfigItem` options grouped in ini-file sections.

Plugin ``<name>_defaults.py`` modules declare ``HELPTEXT`` and module-level ``ConfigItem``
objects; global options live in ``plugins.train.train_config``. The application loads one ini
file into those same objects, so plugins read the configured value by calling the item.
"""
from lib.config.config import Config, ConfigSection, GlobalSection, class_items, module_items
from lib.config.config_item import COLOR_CHOOSER, ConfigItem

__all__ = ["COLOR_CHOOSER", "Config", "ConfigItem", "ConfigSection", "GlobalSection",
           "class_items", "module_items"]
