"""Built-in normalize plugins."""
