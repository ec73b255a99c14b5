"""secai: security scanner findings → grounded dataset → LoRA-tuned local model (MLX)."""

__version__ = "0.2.0"
