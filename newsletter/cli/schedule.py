"""`newsletter schedule ...` commands (being written)."""
