"""The run directory: events, the writer, the reader, replay and exports."""
