"""Faceswap-compatible plugin tree (``plugins.train.model.<name>``).

The package name is Faceswap's: plugin files import ``plugins.train.model._base`` and
``plugins.train.train_config`` by these names.
"""
