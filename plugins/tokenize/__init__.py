"""Built-in tokenize plugins."""
