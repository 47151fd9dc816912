"""Datasets, readers, the corpus model and (later) the dialog-log store."""
