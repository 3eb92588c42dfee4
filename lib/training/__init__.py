"""Training helpers: data feeding, augmentation, learning-rate tools and logging.

The data feeder (:class:`~lib.training.generator.Feeder`, :func:`get_image_paths`) and its image
augmentation (:class:`~lib.training.augmentation.ImageAugmentation`) are importable from here.
"""
from __future__ import annotations

from lib.training.augmentation import ImageAugmentation
from lib.training.generator import Feeder, get_image_paths

__all__ = ["Feeder", "ImageAugmentation", "get_image_paths"]
