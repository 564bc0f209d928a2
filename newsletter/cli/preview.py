"""`newsletter preview` command (being written)."""
