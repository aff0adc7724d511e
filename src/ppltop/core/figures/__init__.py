"""Statistics, summaries, why the figures differ, comparisons between labels."""
