"""CLI subcommands, one module each (see secai/cli.py)."""
