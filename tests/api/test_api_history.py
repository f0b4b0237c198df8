"""History in the embedded client: kept per operator, resumed after a restart, searchable for /find."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

from engine.client import EmbeddedClient, FeedItem, HistoryMessage


async def test_embedded_history_survives_a_restart_and_search_is_per_operator(clawops_home: Path) -> None:
    first = EmbeddedClient.open(demo_pairs=20, demo_providers="sim", channel="tui")
    try:
        await first.ask("fleet status", session="chat")
        await first.ask("show acct-004", session="chat")
        await first.ask("what's degraded on vultr?", session="other")
        await first.ask("100% of the_fleet", session="chat")  # LIKE wildcards are searched literally
    finally:
        first.close()
    again = EmbeddedClient.open(demo_pairs=20, demo_providers="sim", channel="tui")
    try:
        chat = await again.history("chat")
        assert [(m.role, m.text) for m in chat if m.role == "operator"] == [
            ("operator", "fleet status"),
            ("operator", "show acct-004"),
            ("operator", "100% of the_fleet"),
        ]
        assert all(isinstance(m, HistoryMessage) and m.channel == "tui" for m in chat)
        assert [m.role for m in chat[:2]] == ["operator", "agent"] and chat[1].text.startswith("[CMD]")
        assert len(await again.history("chat", limit=2)) == 2
        found = await again.search("ACCT-004")  # case-insensitive, any session, newest first
        assert "show acct-004" in [m.text for m in found] and {m.session for m in found} == {"chat"}
        assert [m.id for m in found] == sorted((m.id for m in found), reverse=True)
        literal = await again.search("100%")
        assert literal and all("100%" in m.text for m in literal)
        assert all("e_f" in m.text for m in await again.search("e_f"))  # '_' is not a wildcard
        assert await again.search("   ") == []
    finally:
        again.close()


async def test_embedded_clients_on_one_engine_share_the_feed(clawops_home: Path) -> None:
    import asyncio

    owner = EmbeddedClient.open(demo_pairs=20, demo_providers="sim", channel="tui")
    try:
        feed = owner.feed()
        pending = asyncio.ensure_future(feed.__anext__())
        await asyncio.sleep(0)
        await owner.ask("fleet status", session="s")
        item = await asyncio.wait_for(pending, 30)
        assert isinstance(item, FeedItem) and item.operator == "owner" and item.message == "fleet status"
        assert isinstance(feed, AsyncGenerator)  # the client's feed is an async generator, closed when done with
        await feed.aclose()
    finally:
        owner.close()
