"""Built-in spacing plugins."""
