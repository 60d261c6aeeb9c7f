"""rvc-convert: RVC checkpoints to MLX / MLX Swift weight files, read safely and proven equivalent."""

__version__ = "0.1.0"
# Bumped whenever the bytes a conversion writes change (tests/test_output_hashes.py pins them per
# revision); bundle reuse may key on it.
OUTPUT_FORMAT_REVISION = 5
