"""The OpenAI-compatible server (`thinkgate serve`): `create_app` in app.py; nothing is built at import."""
