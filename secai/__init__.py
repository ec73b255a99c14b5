"""secai: security scanner findings → grounded dataset → LoRA-tuned local model (MLX)."""

__version__ = "0.1.0"
