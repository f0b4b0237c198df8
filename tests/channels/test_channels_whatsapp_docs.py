"""WhatsApp takes only PDF, Office and plain-text documents: the HTML report goes as text/plain under its own
name (the Graph emulator refuses other types, as the Cloud API does)."""

from __future__ import annotations

import httpx
import pytest

from engine.channels import ChannelError, WhatsAppClient, WhatsAppEmulator
from engine.channels.whatsapp import document_mime


def test_document_types() -> None:
    assert document_mime("report.pdf", b"%PDF") == "application/pdf"
    assert document_mime("brief.html", b"<html></html>") == "text/plain"
    with pytest.raises(ChannelError, match="does not accept"):
        document_mime("chart.bin", bytes(range(256)) * 4)


async def test_html_report_is_delivered_as_a_document() -> None:
    async with WhatsAppEmulator() as emu, httpx.AsyncClient() as http:
        client = WhatsAppClient(http, emu.access_token, emu.phone_number_id, base_url=emu.base_url)
        await client.send_document("491701234567", b"<html><h1>Daily</h1></html>", "brief.html", "Daily")
        with pytest.raises(ChannelError, match="following types"):
            await client.upload_media(b"<html></html>", "text/html", "brief.html")
    sent = emu.sent[0]
    assert (sent.kind, sent.filename, sent.mime_type, sent.text) == ("document", "brief.html", "text/plain", "Daily")
