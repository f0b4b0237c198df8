"""The tool table (ARCHITECTURE §3, contract): one definition per tool.

Each tool is a :class:`ToolSpec` whose arguments are a pydantic model.  That one model is
the whole truth about the tool's arguments, and everything else is *generated* from it:

* :meth:`ToolSpec.validate` — what the operation layer, the HTTP API and the offline brain accept;
* :meth:`ToolSpec.input_schema` — the JSON schema the LLM brain offers the model;
* :meth:`ToolSpec.problems` — the checks a skill's example call must pass.

So the three cannot drift: there is nothing left to keep in step by hand.  The models accept
what the domain accepts (any letter case for names, an account id where a list is expected)
and hand a call on in one canonical form; selectors stay as written, judged by the domain's
own strict parser.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from engine.domain import FINDINGS, REGIONS, SELECTOR_KEYS, Geo, InstanceState, Provider, Role, Selector, Tier
from engine.errors import InputError
from engine.policy import Role as OperatorRole
from engine.trust import parse_since

RESTART_COMPONENTS = ("gateway", "docker", "vps")
COST_KINDS = ("report", "waste", "forecast")
COST_PERIODS = ("week", "month")
BRIEFING_KINDS = ("daily", "weekly")
AGENT_NAMES = ("commander", "guardian", "forge", "ledger", "triage", "briefer")
"""The six agents of ARCHITECTURE §5, in the order the team is introduced."""


# ------------------------------------------------------------------ argument types
def _folded(case: str) -> BeforeValidator:
    """Names are matched in any letter case and with stray spaces, as the domain's parsers do."""

    def fold(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value.upper() if case == "upper" else value.lower()
        return value

    return BeforeValidator(fold)


def _choice(what: str, values: tuple[str, ...] | list[str], case: str = "lower") -> Any:
    """A name from a fixed list (any letter case), offered to the model as an enum."""
    allowed = tuple(values)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{what} '{value}' is not known; use one of: {', '.join(allowed)}")
        return value

    return (_folded(case), AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(allowed)}))


def _check_since(value: str | None) -> str | None:
    if value is not None:
        parse_since(value)  # the audit's own reader judges it (raises InputError with the accepted forms)
    return value


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_selector(value: Any) -> Any:
    Selector.parse(value)  # the domain's strict parser is the one judge of a selector (raises InputError)
    return value


_PROVIDERS = tuple(p.value for p in Provider)
_SELECTOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Which instances; keys combine with AND. Empty means every instance you may see.",
    "properties": {
        "accounts": {"type": "array", "items": {"type": "string"}, "description": "account ids such as acct-042"},
        "instances": {"type": "array", "items": {"type": "string"}, "description": "instance ids such as i-acct-042-p"},
        "provider": {"type": "string", "enum": list(_PROVIDERS)},
        "region": {"type": "string", "enum": sorted(REGIONS)},
        "geo": {"type": "string", "enum": [g.value for g in Geo]},
        "tier": {"type": "string", "enum": [t.value for t in Tier]},
        "state": {"type": "string", "enum": [s.value for s in InstanceState]},
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "finding": {
            "type": "string",
            "enum": list(FINDINGS),
            "description": "a finding id from the last cost_analysis(kind='waste')",
        },
    },
    "additionalProperties": False,
}
assert set(_SELECTOR_SCHEMA["properties"]) == set(SELECTOR_KEYS), "the selector's schema names every selector key"

ProviderName = Annotated[str, *_choice("provider", _PROVIDERS)]
RegionName = Annotated[str, *_choice("region", sorted(REGIONS))]
GeoName = Annotated[str, *_choice("geo", [g.value for g in Geo])]
TierName = Annotated[str, *_choice("tier", [t.value for t in Tier])]
StateName = Annotated[str, *_choice("state", [s.value for s in InstanceState], "upper")]
SelectorArg = Annotated[dict[str, Any], BeforeValidator(_check_selector), WithJsonSchema(_SELECTOR_SCHEMA)]
Text = Annotated[str, Field(min_length=1)]
Words = str | list[str]
IdList = Annotated[list[str], BeforeValidator(_listed)]


class Args(BaseModel):
    """Base of every tool's arguments: unknown names are refused."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ the tools' arguments
class FleetStatusArgs(Args):
    provider: ProviderName | None = None
    region: RegionName | None = None
    geo: GeoName | None = None
    tier: TierName | None = None
    state: StateName | None = None


class TargetArgs(Args):
    target: Annotated[Text, Field(description="an account id (acct-042) or an instance id (i-acct-042-p)")]


class DiagnoseArgs(TargetArgs):
    checks: Annotated[IdList | None, Field(description="narrow the read-only checks; omit for all")] = None


class ProvisionArgs(Args):
    count: PositiveInt
    tier: TierName
    geo: GeoName | None = None
    region: RegionName | None = None
    primary_provider: ProviderName
    standby_provider: Annotated[ProviderName | None, Field(description="must differ from primary_provider")] = None
    label: str | None = None

    @model_validator(mode="after")
    def _two_providers(self) -> ProvisionArgs:
        if self.standby_provider is not None and self.standby_provider == self.primary_provider:
            raise ValueError("a pair's standby must be on a different provider than its primary")
        return self


class TeardownArgs(Args):
    selector: SelectorArg
    archive: Annotated[bool, Field(description="archive the account's data first (default true)")] = True


class ResizeArgs(Args):
    selector: SelectorArg
    tier: TierName


class RestartArgs(Args):
    selector: SelectorArg
    component: Annotated[str, *_choice("component", RESTART_COMPONENTS)]


class FailoverArgs(Args):
    selector: SelectorArg


class ConfigPushArgs(Args):
    selector: SelectorArg
    config: Annotated[dict[str, Any], Field(min_length=1, description="gateway configuration to push")]
    batch_size: Annotated[PositiveInt | None, Field(description="instances per rolling batch")] = None


class CostAnalysisArgs(Args):
    kind: Annotated[str, *_choice("kind", COST_KINDS)]
    period: Annotated[str, *_choice("period", COST_PERIODS)]


class ProviderHealthArgs(Args):
    provider: ProviderName | None = None
    region: RegionName | None = None


class SilenceArgs(Args):
    selector: SelectorArg
    minutes: PositiveInt
    reason: str | None = None


class NoArgs(Args):
    pass


class JobArgs(Args):
    job_id: Annotated[
        str | None, Field(description="a job id, job- and 32 hex digits, as shown when the job started")
    ] = None


class AuditQueryArgs(Args):
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    limit: PositiveInt | None = None
    since: Annotated[
        str | None,
        AfterValidator(_check_since),
        Field(description="how far back: 30m, 24h, 7d, 2w, or an ISO date/time (UTC)"),
    ] = None


class BriefingArgs(Args):
    kind: Annotated[str, *_choice("kind", BRIEFING_KINDS)]


class BriefingScheduleArgs(Args):
    time: Annotated[str | None, Field(description="local time of day, HH:MM")] = None
    tz: Annotated[str | None, Field(description="an IANA time zone such as Europe/Berlin")] = None
    days: Annotated[Words | None, Field(description="every day, weekdays, weekends, or day names")] = None
    skip_days: Annotated[Words | None, Field(description="days without a briefing, e.g. weekends")] = None
    channels: Annotated[Words | None, Field(description="telegram, whatsapp, or both")] = None
    enabled: bool | None = None


AgentName = Annotated[str, *_choice("agent", AGENT_NAMES)]


class SpawnArgs(Args):
    agent: AgentName
    task: Text


class SendArgs(Args):
    agent: AgentName
    message: Text
    wait: Annotated[bool, Field(description="block until the other agent answers")] = False


# ------------------------------------------------------------------ the tool object
@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its name, its argument model, whether it changes the fleet, who may call it."""

    name: str
    kind: str  # "read" | "mutate" | "session"
    arguments: type[Args]
    min_role: OperatorRole
    description: str
    destructive: bool = False
    """Cannot be undone (a teardown): always needs the operator's confirmation, whatever its size."""
    required: tuple[str, ...] = field(init=False)
    optional: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        fields = self.arguments.model_fields
        object.__setattr__(self, "required", tuple(n for n, f in fields.items() if f.is_required()))
        object.__setattr__(self, "optional", tuple(n for n, f in fields.items() if not f.is_required()))

    @property
    def args(self) -> tuple[str, ...]:
        return self.required + self.optional

    def problems(self, args: Mapping[str, Any]) -> list[str]:
        """Everything wrong with a call's arguments, as sentences; empty when the tool accepts them."""
        return self._names(args) or self._check(args)[1]

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments in their canonical form ("20" → 20, "Hetzner" → "hetzner"), or
        :class:`InputError` with one sentence saying what is wrong."""
        canonical: dict[str, Any] = {}
        problems = self._names(args)
        if not problems:
            canonical, problems = self._check(args)
        if problems:
            raise InputError(problems[0] + ("" if problems[0].endswith(".") else "."))
        return {name: canonical.get(name, value) for name, value in args.items()}

    def _names(self, args: Mapping[str, Any]) -> list[str]:
        if not isinstance(args, Mapping):
            return [f"{self.name} takes named arguments ({', '.join(self.args) or 'none'})"]
        unknown = sorted(set(args) - set(self.args))
        if unknown:
            return [
                f"{self.name} has no argument '{name}'; it takes {', '.join(self.args) or 'none'}" for name in unknown
            ]
        return [
            f"{self.name} needs '{name}'; it takes {', '.join(self.args)}"
            for name in self.required
            if args.get(name) in (None, "")
        ]

    def _check(self, args: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        try:
            model = self.arguments.model_validate({k: v for k, v in args.items() if v is not None})
        except InputError as err:  # a selector judged by the domain's parser
            return {}, [str(err)]
        except ValidationError as err:
            return {}, [_sentence(self.name, e) for e in err.errors()]
        return model.model_dump(exclude_unset=True), []

    def input_schema(self, narrow: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
        """The JSON schema of the arguments (for the LLM's ``tools``), generated from the model.

        ``narrow`` replaces an argument's allowed values (an agent may message only some agents).
        """
        schema = json.loads(_arguments_schema(self.arguments))  # a fresh copy: the caller may change it
        generated = schema.get("properties", {})
        properties = {name: generated[name] for name in self.args}  # required first, as the contract lists them
        for arg, values in (narrow or {}).items():
            if arg in properties:
                properties[arg] = {"type": "string", "enum": list(values)}
        return {
            "type": "object",
            "properties": properties,
            "required": list(self.required),
            "additionalProperties": False,
        }


def _sentence(tool: str, error: Mapping[str, Any]) -> str:
    """A pydantic error as one sentence an operator or a script can act on (no Python in it)."""
    where = ".".join(str(p) for p in error.get("loc", ()) if not isinstance(p, int)) or tool
    value = error.get("input")
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind in ("int_parsing", "int_type", "int_from_float", "greater_than"):
        return f"{where} must be at least 1, a whole number (not {value!r})"
    if kind in ("bool_parsing", "bool_type"):
        return f"{where} must be true or false, not {value!r}"
    if kind in ("dict_type", "too_short") and where == "config":
        return 'config must be a non-empty object of settings, e.g. {"log_level": "info"}'
    if kind == "value_error":
        return str(context.get("error", error.get("msg", "")))
    return f"{where}: {str(error.get('msg', 'not accepted')).lower()}"


@functools.cache
def _arguments_schema(arguments: type[Args]) -> str:
    """An argument model's inlined JSON schema, as JSON text: generated once per model (pydantic's schema
    generation costs ~0.7 ms a tool, and the LLM brain offers an agent its ~20 tools on every model request)."""
    return json.dumps(_inline(arguments.model_json_schema()))


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref``s and drop pydantic's titles: the Messages API reads a plain, self-contained schema."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            out = {k: walk(v) for k, v in node.items() if k not in ("title", "default")}
            if "anyOf" in out:  # an optional argument: offer the value's own schema (null means "leave it out")
                kinds = [k for k in out["anyOf"] if k != {"type": "null"}]
                if len(kinds) == 1:
                    merged = {**kinds[0], **{k: v for k, v in out.items() if k != "anyOf"}}
                    return merged
                out["anyOf"] = kinds
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def _t(
    name: str, kind: str, arguments: type[Args], role: OperatorRole, description: str, *, destructive: bool = False
) -> ToolSpec:
    return ToolSpec(name, kind, arguments, role, description, destructive)


_R, _M = "read", "mutate"
V, OP = OperatorRole.VIEWER, OperatorRole.OPERATOR

TOOLS: dict[str, ToolSpec] = {
    t.name: t
    for t in (
        _t(
            "fleet_status",
            _R,
            FleetStatusArgs,
            V,
            "Counts of instances by state and provider, and the ones that need attention.",
        ),
        _t("instance_inspect", _R, TargetArgs, V, "One account's pair or one instance, in full."),
        _t("instance_diagnose", _R, DiagnoseArgs, V, "Read-only checks run by clawnode on the instance."),
        _t("provision_pairs", _M, ProvisionArgs, OP, "Create primary + standby pairs on two different providers."),
        _t("teardown", _M, TeardownArgs, OP, "Archive, then delete (or cancel) instances.", destructive=True),
        _t("resize", _M, ResizeArgs, OP, "Move instances to another tier."),
        _t("restart", _M, RestartArgs, OP, "Restart the gateway, docker, or the whole VPS."),
        _t("failover", _M, FailoverArgs, OP, "Promote verified healthy standbys to primary."),
        _t("config_push", _M, ConfigPushArgs, OP, "Push gateway config in rolling, health-checked batches."),
        _t("cost_analysis", _R, CostAnalysisArgs, V, "Spend report, waste findings or forecast."),
        _t("provider_health", _R, ProviderHealthArgs, V, "Provider status and our exposure per region."),
        _t("silence_alerts", _M, SilenceArgs, OP, "Silence alerts for matching instances."),
        _t("guardian_sweep", _R, NoArgs, OP, "Run Guardian's health sweep now (where nodes report to this engine)."),
        _t("job_status", _R, JobArgs, V, "Progress of a job; without job_id, the running and recent jobs."),
        _t(
            "job_stop",
            _M,
            JobArgs,
            OP,
            "Stop a running job at the next safe step boundary (without job_id: your only running job).",
        ),
        _t("audit_query", _R, AuditQueryArgs, V, "Search the audit log."),
        _t("briefing", _R, BriefingArgs, V, "The daily or weekly briefing."),
        _t(
            "briefing_schedule",
            _R,
            BriefingScheduleArgs,
            V,
            "Your briefing time (HH:MM), time zone, days and channels; without arguments, when it comes.",
        ),
    )
}

SESSION_KIND = "session"
"""Kind of the agent-to-agent tools: they move messages, never the fleet."""

SESSION_TOOLS: dict[str, ToolSpec] = {
    t.name: t
    for t in (
        _t(
            "sessions_spawn",
            SESSION_KIND,
            SpawnArgs,
            V,
            "Start a child run of another agent on a task; its result is announced back when it finishes.",
        ),
        _t(
            "sessions_send",
            SESSION_KIND,
            SendArgs,
            V,
            "Send a message to another agent; with wait=true, block until it answers.",
        ),
    )
}

TOOL_AGENT = {
    "provision_pairs": "forge",
    "teardown": "forge",
    "resize": "forge",
    "config_push": "forge",
    "cost_analysis": "ledger",
    "provider_health": "guardian",
    "silence_alerts": "guardian",
    "instance_diagnose": "triage",
    "briefing": "briefer",
    "briefing_schedule": "briefer",
    "guardian_sweep": "guardian",
}
"""Which teammate speaks for a tool (its answers, its jobs' progress); the rest is Commander's."""

CONTRACT_TOOLS = (
    "fleet_status",
    "instance_inspect",
    "instance_diagnose",
    "provision_pairs",
    "teardown",
    "resize",
    "restart",
    "failover",
    "config_push",
    "cost_analysis",
    "provider_health",
    "silence_alerts",
)
"""The 12 operations of ARCHITECTURE §3, in the contract's order."""


def tool_spec(name: str) -> ToolSpec:
    try:
        return TOOLS[name]
    except KeyError:
        raise InputError(f"There is no tool called '{name}'; tools are: {', '.join(TOOLS)}.") from None
