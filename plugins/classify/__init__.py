"""Built-in classifiers: intent and spam/abuse."""
