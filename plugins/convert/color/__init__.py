"""Colour adjustments of the swapped face (``-c/--color-adjustment``)."""
