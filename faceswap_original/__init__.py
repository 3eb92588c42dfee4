"""faceswap-original: write, train, resume and run Faceswap model plugins on Keras 3."""

# ``lib`` sets the backend defaults that must be in place before Keras loads (lib/__init__.py).
import lib  # noqa: F401

__version__ = "0.1.0"
