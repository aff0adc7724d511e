"""Load the model once, swap adapters in place; BLAS, precision and memory."""
