"""Trainer plugins: one training step of a model plugin on one batch."""
