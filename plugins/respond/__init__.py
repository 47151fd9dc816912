"""Responders: plugins that write a reply."""
