"""The engine's side of the node gateway: start it, and keep the nodes' health reports in the store.

The gateway (``engine.gateway``) speaks the OpenClaw protocol; this module is
the glue the daemon needs: the shared node token (from settings, or generated
once into the encrypted secret store), and a health-report sink that records
each node's latest report in ``health_reports`` — what Guardian's sweep reads.
A report is bound to the instance the node was paired for (the gateway
overwrites whatever the node claims), and reports for an instance the store
does not know are dropped with a log line.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from engine.store import HealthReportRecord, Instance, utcnow

if TYPE_CHECKING:
    from engine.runtime import Engine
    from node.protocol import NodeHealthReport

__all__ = ["GATEWAY_TOKEN_SECRET", "gateway_token", "record_health_report", "start_node_gateway"]

log = logging.getLogger(__name__)

GATEWAY_TOKEN_SECRET = "clawops/gateway-token"


def gateway_token(engine: Engine) -> str:
    """``CLAWOPS_GATEWAY_TOKEN`` if set, else one generated once and kept encrypted in the secret store."""
    if engine.settings.gateway_token is not None:
        return engine.settings.gateway_token.get_secret_value()
    token: str = engine.trust.secrets.get_or_create(GATEWAY_TOKEN_SECRET, lambda: secrets.token_urlsafe(32))
    return token


def record_health_report(engine: Engine, report: NodeHealthReport) -> bool:
    """Upsert the node's latest report for its instance; False (and a log line) if it names no known instance."""
    from engine.guardian import report_record

    if not report.instance_id:
        log.warning("health report from node %s names no instance; pair it with an instance id", report.node_id)
        return False
    with engine.store.session() as s:
        if s.get(Instance, report.instance_id) is None:
            log.warning("health report for unknown instance %s from node %s dropped", report.instance_id,
                        report.node_id)
            return False
        record: HealthReportRecord = report_record(report, utcnow())
        s.merge(record)
    return True


async def start_node_gateway(engine: Engine, *, port: int | None = None) -> Any:
    """Start the node gateway on the configured address; returns it (``await gw.stop()`` to end)."""
    from engine.gateway import NodeGateway

    async def on_report(report: NodeHealthReport) -> None:
        record_health_report(engine, report)

    gateway = NodeGateway(engine.settings.gateway_host, engine.settings.gateway_port if port is None else port,
                          gateway_token(engine), on_health_report=on_report)
    await gateway.start()
    return gateway
