"""The scoring engine: plan, scorer, assembler and the loop that yields events."""
