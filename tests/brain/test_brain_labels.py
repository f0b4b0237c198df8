"""A label asked for new pairs reaches the plan in the operator's own letter case ("for COMPANION")."""

from __future__ import annotations

import pytest

from engine.brain import OfflineBrain, ToolIntent


@pytest.mark.parametrize(
    ("said", "label"),
    [
        ("provision 20 standard pairs in the EU on hetzner for COMPANION", "COMPANION"),
        ("provision 5 nano pairs on vultr, label them Acme-Beta", "Acme-Beta"),
        ("spin up 3 pairs tagged 'pilot 2'", "pilot 2"),
        ("provision 4 pairs named acme", "acme"),
    ],
)
def test_the_label_is_kept_as_said(said: str, label: str) -> None:
    [intent] = OfflineBrain().understand(said)
    assert isinstance(intent, ToolIntent) and intent.tool == "provision_pairs"
    assert intent.args["label"] == label


@pytest.mark.parametrize("said", ["provision 20 pairs for the EU", "provision 2 pairs for 3 months"])
def test_an_ordinary_for_is_not_a_label(said: str) -> None:
    intents = OfflineBrain().understand(said)
    assert all("label" not in getattr(i, "args", {}) for i in intents)
