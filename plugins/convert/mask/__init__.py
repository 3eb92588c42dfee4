"""Mask blending of the swapped face (``mask.mask_blend``)."""
