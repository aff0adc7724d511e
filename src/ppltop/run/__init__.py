"""One evaluation from config to outputs: headless or under the dashboard, sharded over the
ranks of `mlx.launch`, detached, resumed, or replayed from a run directory.

The command line (`ppltop.cli`) calls in here; nothing here imports the command line.
"""
