"""Fallbacks: the responder of last resort."""
