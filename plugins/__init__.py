"""Faceswap-compatible plugin tree (``plugins.train.model.<name>``).

The package name is Faceswap's: plugin files import ``plugins.train.model._base`` and
``plugins.train.train_config`` by these names.
"""

# ``lib`` sets the backend defaults that must be in place before Keras loads (see lib/__init__.py);
# a plugin file may import Keras before it imports ``lib``.
import lib  # noqa: F401
