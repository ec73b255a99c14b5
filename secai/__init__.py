"""secai: security scanner findings -> verified fixes, and a local model (MLX) that learns how a team fixes them."""

__version__ = "0.2.0"
