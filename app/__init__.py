"""The ClawOps chat client: conversation only (transcript, prompt, voice notes).

It talks to the engine through :mod:`engine.client` and nothing else.
"""
