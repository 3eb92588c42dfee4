"""Aligned faces: the geometry from frame landmarks, stored masks and alignments files."""
