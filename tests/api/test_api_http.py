"""The operator API over plain HTTP: keys, the turn contract, audit, metrics, health."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.api_testkit import DEMO_PAIRS, Daemon, Keys


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("path", ["/healthz", "/v1/whoami", "/metrics", "/v1/audit/verify", "/v1/history"])
async def test_every_route_refuses_a_wrong_or_missing_key_with_one_json_line(
    daemon: Daemon, keys: Keys, path: str
) -> None:
    async with httpx.AsyncClient(base_url=daemon.url) as http:
        wrong = await http.get(path, headers=_auth("claw_nope_" + "x" * 30))
        missing = await http.get(path)
    for resp in (wrong, missing):
        assert resp.status_code == 401
        assert "\n" not in resp.text.strip()
        error = resp.json()["error"]
        assert error and "\n" not in error
        assert "claw_nope" not in resp.text  # the key is never echoed


async def test_turn_answers_exactly_the_ask_json_contract(daemon: Daemon, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        resp = await http.post("/v1/turns", headers=_auth(keys.alice), json={"message": "fleet status"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"reply", "agent", "tool_calls", "plan", "job"}
    assert body["reply"].startswith("[CMD]")
    assert [c["tool"] for c in body["tool_calls"]] == ["fleet_status"]


async def test_bad_turn_bodies_are_400_with_a_sentence(daemon: Daemon, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        not_json = await http.post("/v1/turns", headers=_auth(keys.alice), content=b"\xff\xfe not json")
        no_message = await http.post("/v1/turns", headers=_auth(keys.alice), json={"session": "x"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    assert no_message.status_code == 400 and "message" in no_message.json()["error"]


async def test_whoami_healthz_and_audit_verify(daemon: Daemon, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        who = (await http.get("/v1/whoami", headers=_auth(keys.bob))).json()
        health = (await http.get("/healthz", headers=_auth(keys.bob))).json()
        audit = (await http.get("/v1/audit/verify", headers=_auth(keys.bob))).json()
    assert who == {"operator": "bob", "role": "operator", "tenant": None, "demo": True}
    assert health == {"status": "ok", "operator": "bob"}
    assert audit["ok"] is True and audit["problem"] is None and audit["entries"] > 0


async def test_metrics_are_prometheus_text_with_the_real_fleet(daemon: Daemon, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        await http.post("/v1/turns", headers=_auth(keys.alice), json={"message": "fleet status"})
        resp = await http.get("/metrics", headers=_auth(keys.owner))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    lines = resp.text.splitlines()
    instances = [ln for ln in lines if ln.startswith("clawops_instances{")]
    assert instances and all('provider="' in ln and 'state="' in ln for ln in instances)
    assert sum(float(ln.rsplit(" ", 1)[1]) for ln in instances) == DEMO_PAIRS * 2  # a primary and a standby
    assert "# TYPE clawops_instances gauge" in lines
    assert 'clawops_turns_total{outcome="ok"} 1.0' in lines
    assert "version=0.0.4" in resp.headers["content-type"]
    # a Prometheus parser reads it back: every family once, counters named *_total
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    assert families["clawops_turns"].type == "counter" and families["clawops_instances"].type == "gauge"
    assert any(ln.startswith("clawops_api_unauthorized_total ") for ln in lines)
    for ln in lines:  # every sample line is "name{labels} number"
        if ln and not ln.startswith("#"):
            float(ln.rsplit(" ", 1)[1])


async def test_logs_are_json_lines_without_keys_or_message_text(
    daemon: Daemon, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import logging

    from engine.api._logging import JsonFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("clawops").addHandler(handler)
    logging.getLogger("clawops").setLevel(logging.INFO)
    try:
        async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
            await http.post("/v1/turns", headers=_auth(keys.alice), json={"message": "fleet status secretword"})
            await http.get("/healthz", headers=_auth("claw_wrong_" + "y" * 30))
    finally:
        logging.getLogger("clawops").removeHandler(handler)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    requests = [r for r in records if r["msg"] == "request"]
    assert {r["status"] for r in requests} >= {200, 401}
    assert all({"ts", "level", "logger", "route", "ms"} <= set(r) for r in requests)
    assert any(r["msg"] == "turn" and r["operator"] == "alice" for r in records)
    text = out.getvalue()
    assert keys.alice not in text and "secretword" not in text and "claw_wrong" not in text


async def test_metrics_carry_provider_calls_and_rate_limit_waits(
    daemon: Daemon, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.providers import RateLimiters

    books = RateLimiters()  # the engine's own books (its drivers'), here a fresh set the test fills
    monkeypatch.setattr(daemon.engine.drivers, "limiters", books, raising=False)
    limiter = books.get("metricsprobe", "token")
    limiter.stats.requests += 7
    limiter.stats.rate_limited += 2
    limiter.stats.waited_seconds += 1.5
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        text = (await http.get("/metrics", headers=_auth(keys.owner))).text
    assert 'clawops_provider_requests_total{provider="metricsprobe"} 7' in text
    assert 'clawops_provider_rate_limited_total{provider="metricsprobe"} 2' in text
    assert 'clawops_provider_rate_limit_wait_seconds_total{provider="metricsprobe"} 1.5' in text


async def test_shutdown_says_going_away_to_connected_operators(daemon: Daemon, keys: Keys) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws_url = "ws" + daemon.url.removeprefix("http") + "/v1/stream"
    async with connect(ws_url, additional_headers=_auth(keys.alice)) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["operator"] == "alice"
        await ws.send(json.dumps({"op": "subscribe"}))
        await daemon.stop()
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1001
