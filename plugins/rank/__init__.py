"""Rankers: plugins that score candidate replies for the responders after them."""
