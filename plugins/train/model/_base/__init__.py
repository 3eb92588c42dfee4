"""ModelBase and its helpers: IO, State, Settings, Inference.

Plugins import ``from plugins.train.model._base import ModelBase, get_all_sub_models``.
"""
from plugins.train.model._base.io import get_all_sub_models
from plugins.train.model._base.model import ModelBase

__all__ = ["ModelBase", "get_all_sub_models"]
