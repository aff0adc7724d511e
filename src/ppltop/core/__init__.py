"""The Textual-free core of ppltop: data, models and adapters, the scoring loop, statistics.

Nothing under `ppltop.core` imports textual or rich (a test enforces it), so the scoring
engine runs headless, in a worker thread under the dashboard, or in another process.
Submodules import mlx lazily where they can: `ppltop.core.model.blas` must run before mlx loads.
"""
