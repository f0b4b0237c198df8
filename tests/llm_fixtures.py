"""The one LLM-brain test setup: a Messages-API emulator on loopback and a demo engine whose brain talks to it.

Test modules that talk to the LLM brain load this plugin (``pytest_plugins = ("tests.llm_fixtures",)``) and ask
for ``emu`` (script its replies, read what the brain sent) and ``llm_engine``; nobody repeats the setup.  A module
that wants a smaller fleet overrides ``llm_demo_pairs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.brain.emulator import AnthropicEmulator
from engine.runtime import Engine

PAIRS = 150
"""The demo fleet an LLM test runs on unless its module overrides ``llm_demo_pairs`` (in-process simulator)."""


@pytest.fixture
def llm_demo_pairs() -> int:
    """How many demo pairs ``llm_engine`` seeds."""
    return PAIRS


@pytest.fixture
async def emu() -> AsyncIterator[AnthropicEmulator]:
    """A Messages-API emulator with an empty script (``emu.add(...)`` or ``emu.responder = ...``)."""
    async with AnthropicEmulator() as server:
        yield server


@pytest.fixture
async def llm_engine(clawops_home: Path, emu: AnthropicEmulator, llm_demo_pairs: int) -> AsyncIterator[Engine]:
    """A demo engine whose LLM brain is the real anthropic SDK pointed at ``emu``."""
    eng = Engine.open(
        demo_pairs=llm_demo_pairs,
        demo_providers="sim",
        anthropic_api_key="sk-test-emulator",
        anthropic_base_url=emu.base_url,
    )
    assert eng.conversation.llm is not None
    eng.conversation.llm.backoff = 0.001  # retries stay fast; the schedule itself is unit-tested elsewhere
    yield eng
    await eng.conversation.llm.aclose()
    eng.close()
