"""Built-in stopwords plugins."""
