"""ppltop: a live terminal dashboard for test loss and perplexity of MLX language models."""

__version__ = "0.1.0"
