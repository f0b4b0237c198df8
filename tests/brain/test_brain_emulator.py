"""The Messages API emulator speaks the protocol the real SDK expects: JSON, SSE, tool turns, errors.

The SDK is imported by the tests that use it, not with the module: every pytest worker collects this file, and
importing ``anthropic`` is ~1.8 CPU-s each time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest

from engine.brain.emulator import AnthropicEmulator, error, say, use_tools

if TYPE_CHECKING:
    import anthropic

MODEL = "claude-sonnet-4-6"


@pytest.fixture
async def emu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as server:
        yield server


@pytest.fixture
async def client(emu: AnthropicEmulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    import anthropic

    sdk = anthropic.AsyncAnthropic(api_key="k", base_url=emu.base_url, max_retries=0)
    yield sdk
    await sdk.close()


async def test_json_reply_with_usage(emu: AnthropicEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.add(say("hello operator"))
    message = await client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text" and message.content[0].text == "hello operator"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert emu.requests[0]["model"] == MODEL


async def test_streamed_tool_use_is_assembled_by_the_sdk(
    emu: AnthropicEmulator, client: anthropic.AsyncAnthropic
) -> None:
    args = {"selector": {"provider": "vultr", "state": "DEGRADED"}, "component": "gateway"}
    emu.add(use_tools(("restart", args), text="Planning a restart."))
    texts: list[str] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "restart vultr"}]
    ) as stream:
        async for event in stream:
            if event.type == "text":
                texts.append(event.text)
        final = await stream.get_final_message()
    assert "".join(texts) == "Planning a restart."
    tool = final.content[1]
    assert final.stop_reason == "tool_use" and tool.type == "tool_use"
    assert tool.name == "restart" and tool.input == args and tool.id.startswith("toolu_")


async def test_tool_result_must_answer_the_previous_tool_use(
    emu: AnthropicEmulator, client: anthropic.AsyncAnthropic
) -> None:
    import anthropic

    emu.add(use_tools(("fleet_status", {})))
    first = await client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "status"}])
    use = first.content[0]
    assert use.type == "tool_use"
    wrong = [
        {"role": "user", "content": "status"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "{}"}]},
    ]
    with pytest.raises(anthropic.BadRequestError, match="tool_result"):
        await client.messages.create(model=MODEL, max_tokens=64, messages=wrong)  # type: ignore[arg-type]
    right = [*wrong[:2], {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "{}"}]}]
    emu.add(say("fine"))
    answer = await client.messages.create(model=MODEL, max_tokens=64, messages=right)  # type: ignore[arg-type]
    assert answer.content[0].type == "text"


@pytest.mark.parametrize(
    ("status", "kind", "exc"),
    [
        (429, "rate_limit_error", "RateLimitError"),
        (529, "overloaded_error", "APIStatusError"),
    ],
)
async def test_scripted_errors(
    emu: AnthropicEmulator, client: anthropic.AsyncAnthropic, status: int, kind: str, exc: str
) -> None:
    import anthropic

    emu.add(error(status, retry_after=2))
    with pytest.raises(getattr(anthropic, exc)) as caught:
        await client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    err = caught.value
    assert isinstance(err, anthropic.APIStatusError) and err.status_code == status
    assert err.response.headers["retry-after"] == "2"
    assert err.body["error"]["type"] == kind  # type: ignore[index]


async def test_missing_key_and_exhausted_script_are_refused(emu: AnthropicEmulator) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
        no_key = await http.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
        assert no_key.status_code == 401
        exhausted = await http.post(
            "/v1/messages", json=body, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}
        )
        assert exhausted.status_code == 400 and "exhausted" in exhausted.json()["error"]["message"]
        empty = await http.post(
            "/v1/messages", json={**body, "messages": []}, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}
        )
        assert empty.status_code == 400
