"""rvc-convert: RVC checkpoints to MLX / MLX Swift weight files, read safely and proven equivalent."""

__version__ = "0.1.0"
