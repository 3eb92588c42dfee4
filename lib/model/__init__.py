"""Layers, blocks, initializers, normalizations, losses and optimizers for Faceswap plugins."""
