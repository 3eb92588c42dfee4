"""Training helpers: data feeding, augmentation, learning-rate tools and logging.

The data feeder (:class:`~lib.training.generator.Feeder` with its options value
:class:`~lib.training.generator.FeederOptions`, :func:`get_image_paths`) and its image
augmentation (:class:`~lib.training.augmentation.ImageAugmentation`,
:class:`~lib.training.augmentation.AugmentationOptions`) are importable from here. Nothing here
reads a configuration: the options come in as values.
"""
from __future__ import annotations

from lib.training.augmentation import AugmentationOptions, ImageAugmentation
from lib.training.generator import Feeder, FeederOptions, get_image_paths

__all__ = ["AugmentationOptions", "Feeder", "FeederOptions", "ImageAugmentation",
           "get_image_paths"]
