"""View models shared by the headless printer and the dashboard (no textual, no rich)."""
