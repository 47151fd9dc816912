"""The HTTP server of ``chatbot serve``: one ASGI app with the REST API, the Rasa and Kakao
channels, health and metrics routes, and the Gradio chat UI mounted at ``/``."""
