"""faceswap-original: write, train, resume and run Faceswap model plugins on Keras 3."""

__version__ = "0.1.0"
