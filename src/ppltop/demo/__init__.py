"""The bundled demo: a small llama-style model, two LoRA adapters and data in mlx-lm's format.

Built by `scripts/make_demo.py`; shipped as package data so that the first run and the
tests need no network.
"""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
MODEL_DIR = DEMO_DIR / "model"
ADAPTER_DIRS = {name: DEMO_DIR / "adapters" / name for name in ("docs-net", "docs-math")}
DATA_DIR = DEMO_DIR / "data"
CHAT_DATA_DIR = DEMO_DIR / "data-chat"
COMPLETIONS_DATA_DIR = DEMO_DIR / "data-completions"
