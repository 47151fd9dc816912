"""Ready pipeline configs, usable by name: ``--config default``."""
