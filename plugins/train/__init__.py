"""Training plugins: models, trainers and their configuration."""
