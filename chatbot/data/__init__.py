"""Datasets, readers, the corpus model, splits, downloads, and the dialog-log format and store."""
