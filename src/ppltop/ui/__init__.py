"""The Textual dashboard. Everything here reads from `ppltop.core`; nothing computes statistics."""
