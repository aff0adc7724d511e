"""Read, validate and tokenize a split; segments, windows and batches."""
