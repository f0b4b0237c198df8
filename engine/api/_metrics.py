"""``GET /metrics``: Prometheus text format (version 0.0.4), written by ``prometheus_client``.

Each request builds its own ``CollectorRegistry`` holding one collector that reads the store for the
caller's scope (a tenant viewer gets only its tenant), so nothing is kept between requests or tenants: no
process-wide registry, no counters living beside the store's truth.

Only what the engine really knows is exported: the fleet by state and
provider, jobs and their progress, the audit chain length, the API's own
counters, provider API calls / 429s / rate-limit waits (from the drivers'
shared limiters, once a driver has been used in this process) and — when
this process has one — node gateway connections.  LLM tokens and cost appear once a brain reports
them (``engine.brain_usage`` with ``input_tokens``/``output_tokens``/``cost_usd``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from engine.store import AuditHead, Instance, JobRecord, JobStep, Operator

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["CONTENT_TYPE", "ApiStats", "MetricsSource", "Sample", "render_metrics"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

ACTIVE_JOB_STATES = ("queued", "running")


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of a metric family."""

    name: str
    help: str
    kind: str  # gauge | counter
    value: float
    labels: tuple[tuple[str, str], ...] = ()


MetricsSource = Callable[[], Iterable[Sample]]
"""Anything else this process can measure (a gateway, provider limiters), added by whoever wires it."""


@dataclass
class ApiStats:
    """Counters of the operator API itself."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    unauthorized: int = 0
    turns: Counter[str] = field(default_factory=Counter)
    websockets: int = 0


def _fleet(engine: Engine, tenant_id: str | None = None) -> Iterable[Sample]:
    """The fleet and its jobs; for a tenant-scoped caller only that tenant's instances and its operators' jobs
    (rule 6), and no audit chain length (the chain spans every tenant)."""
    with engine.store.session() as s:
        inst = select(Instance.state, Instance.provider, func.count())
        job_stmt = select(JobRecord.status, func.count())
        active_stmt = select(JobRecord).where(col(JobRecord.status).in_(ACTIVE_JOB_STATES))
        if tenant_id is not None:
            inst = inst.where(col(Instance.tenant_id) == tenant_id)
            mine = select(Operator.id).where(col(Operator.tenant_id) == tenant_id)
            job_stmt = job_stmt.where(col(JobRecord.started_by).in_(mine))
            active_stmt = active_stmt.where(col(JobRecord.started_by).in_(mine))
        rows = s.exec(inst.group_by(col(Instance.state), col(Instance.provider))).all()
        jobs = s.exec(job_stmt.group_by(col(JobRecord.status))).all()
        active = s.exec(active_stmt).all()
        # A running job's record is final only at its end; its steps say how far it is now.
        step_counts: dict[tuple[str, str], int] = (
            {
                (job_id, status): count
                for job_id, status, count in s.exec(
                    select(JobStep.job_id, JobStep.status, func.count())
                    .where(col(JobStep.job_id).in_([j.id for j in active]))
                    .group_by(col(JobStep.job_id), col(JobStep.status))
                ).all()
            }
            if active
            else {}
        )
        head = s.get(AuditHead, 1)
    for state, provider, count in rows:
        yield Sample(
            "clawops_instances",
            "Instances by state and provider.",
            "gauge",
            count,
            (("provider", provider), ("state", state)),
        )
    for status, count in jobs:
        yield Sample("clawops_jobs", "Jobs by status.", "gauge", count, (("status", status),))
    totals = {"total": 0, "done": 0, "failed": 0}
    for job in active:
        done = step_counts.get((job.id, "done"), 0)
        failed = step_counts.get((job.id, "failed"), 0)
        totals["total"] += job.total
        totals["done"] += done
        totals["failed"] += failed
        ratio = (done + failed) / job.total if job.total else 0.0
        yield Sample(
            "clawops_job_progress_ratio",
            "Finished share of the steps of each queued or running job.",
            "gauge",
            ratio,
            (("job", job.id), ("tool", job.tool)),
        )
    for status, value in totals.items():
        yield Sample(
            "clawops_active_job_steps",
            "Steps of queued and running jobs (total, done, failed).",
            "gauge",
            value,
            (("status", status),),
        )
    if tenant_id is None:
        yield Sample("clawops_audit_entries", "Entries in the audit hash chain.", "gauge", head.seq if head else 0)


def _api(stats: ApiStats, feed_items: int) -> Iterable[Sample]:
    for (route, code), count in sorted(stats.requests.items()):
        yield Sample(
            "clawops_api_requests_total",
            "Operator API requests by route and status code.",
            "counter",
            count,
            (("code", str(code)), ("route", route)),
        )
    yield Sample(
        "clawops_api_unauthorized_total",
        "Requests refused for a missing or wrong API key.",
        "counter",
        stats.unauthorized,
    )
    for outcome in ("ok", "error"):
        yield Sample(
            "clawops_turns_total",
            "Conversation turns served, by outcome.",
            "counter",
            stats.turns[outcome],
            (("outcome", outcome),),
        )
    yield Sample("clawops_websocket_clients", "Operator WebSocket connections open now.", "gauge", stats.websockets)
    yield Sample("clawops_feed_items_total", "Turns published to the shared operator feed.", "counter", feed_items)


def _optional(engine: Engine) -> Iterable[Sample]:
    """Sources that exist only in some processes; each is looked up, never assumed."""
    gateway: Any = getattr(engine, "gateway", None)
    if gateway is not None and hasattr(gateway, "connected_nodes"):
        yield Sample(
            "clawops_node_connections",
            "Nodes connected to this engine's gateway.",
            "gauge",
            len(gateway.connected_nodes()),
        )
    yield from _provider_limiters(engine)
    usage: Any = getattr(engine, "brain_usage", None)
    if usage is not None:
        for attr, name, help_ in (
            ("input_tokens", "clawops_llm_input_tokens_total", "LLM input tokens."),
            ("output_tokens", "clawops_llm_output_tokens_total", "LLM output tokens."),
            ("cost_usd", "clawops_llm_cost_usd_total", "LLM cost in USD."),
        ):
            if hasattr(usage, attr):
                yield Sample(name, help_, "counter", float(getattr(usage, attr)))


def _provider_limiters(engine: Any) -> Iterable[Sample]:
    """Provider API calls, 429s and rate-limit waits, summed per provider over this engine's limiters."""
    limiters: Any = getattr(getattr(engine, "drivers", None), "limiters", None)
    if limiters is None:  # the in-process simulator calls no API
        return
    for provider, stats in limiters.totals().items():
        labels = (("provider", provider),)
        yield Sample("clawops_provider_requests_total", "Provider API calls.", "counter", stats.requests, labels)
        yield Sample(
            "clawops_provider_rate_limited_total",
            "Provider answers that said: slow down (429).",
            "counter",
            stats.rate_limited,
            labels,
        )
        yield Sample(
            "clawops_provider_rate_limit_wait_seconds_total",
            "Time spent waiting for provider rate limits.",
            "counter",
            stats.waited_seconds,
            labels,
        )


class _Samples(Collector):
    """The samples of one request as metric families, each name once with its HELP and TYPE."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.samples = list(samples)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for sample in self.samples:
            family = families.get(sample.name)
            if family is None:
                base = sample.name.removesuffix("_total") if sample.kind == "counter" else sample.name
                family = families[sample.name] = Metric(base, sample.help, sample.kind)
            family.add_sample(sample.name, dict(sample.labels), float(sample.value))
        yield from families.values()


def render_metrics(
    engine: Engine,
    stats: ApiStats,
    feed_items: int,
    sources: Iterable[MetricsSource] = (),
    *,
    tenant_id: str | None = None,
) -> str:
    """All samples grouped into families, each with its HELP and TYPE line once.

    ``tenant_id`` (a tenant-scoped caller): only that tenant's fleet and jobs; the process-wide counters (API,
    providers, gateway, LLM, audit chain) describe every tenant's traffic and are left out.
    """
    samples: list[Sample] = list(_fleet(engine, tenant_id))
    if tenant_id is None:
        samples += [*_api(stats, feed_items), *_optional(engine)]
        for source in sources:
            samples.extend(source())
    registry = CollectorRegistry(auto_describe=False)  # this request's alone: nothing outlives the answer
    registry.register(_Samples(samples))
    return generate_latest(registry).decode("utf-8")
