"""Korean chatbot toolkit: a configurable pipeline of plugins from Korean text to a reply."""

__version__ = "0.1.0"
