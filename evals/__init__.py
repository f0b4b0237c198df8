"""Evaluation of the agent team: operator utterances and end-to-end scenarios (``python -m evals``)."""
