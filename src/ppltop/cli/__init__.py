"""The command line: one argparse tree (`parser`), mlx_lm.lora's extra flags and YAML config
(`mlx_lm_lora`), every check and the config it yields (`checks`), and the dispatch (`main`).

Data walks one way: command line -> `core.config.EvalConfig` -> `ppltop.run` (engine,
events, headless printer or dashboard). Nothing under `ppltop.cli` imports mlx at module
level: the BLAS is chosen first.
"""

from .main import main

__all__ = ["main"]
