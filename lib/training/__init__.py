"""Training helpers: data feeding, augmentation, learning-rate tools and logging."""
