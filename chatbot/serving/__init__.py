"""Serving a trained pipeline: the chat service (batching, logging), the Gradio web UI and its
``chat`` API, and the terminal chat."""
