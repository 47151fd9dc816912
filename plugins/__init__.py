"""The built-in plugins, installed as ``chatbot_plugins`` (listed in chatbot/registry.py)."""
