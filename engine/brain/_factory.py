"""Choosing the brain from settings: the LLM brain when an API key is configured, else none (offline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.config import Settings

if TYPE_CHECKING:
    from engine.brain._llm import LLMBrain

__all__ = ["llm_brain_for"]


def llm_brain_for(settings: Settings) -> LLMBrain | None:
    """An :class:`LLMBrain` for these settings, or None without ``anthropic_api_key``.

    The SDK and the agent content load only here, so a keyless ``clawops ask``
    stays fast.  ``anthropic_base_url`` (when the setting exists) points the SDK
    elsewhere, e.g. at the emulator in tests.
    """
    if settings.anthropic_api_key is None:
        return None
    from engine.agents import code_values, load_agents, load_skills
    from engine.brain._llm import LLMBrain

    # The model must never be sent the settings' own secrets either (its key, the node token): the
    # brain's requests pass the process-wide redactor, so it learns them here.
    from engine.text import default_redactor

    for secret in (settings.anthropic_api_key, settings.gateway_token):
        if secret is not None:
            default_redactor().add(secret.get_secret_value())
    values = code_values(settings)
    base_url = getattr(settings, "anthropic_base_url", None)
    return LLMBrain(  # the content these settings name (loading the settings again to find it cost ~6 ms)
        load_agents(values=values, settings=settings),
        load_skills(values=values, settings=settings),
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=base_url,
    )
