"""Loading the team: agent folders and skill files, validated on the way in.

Content is Markdown and TOML written by people, so the loader is strict: a
missing file, an unknown tool in an allowance, a read-only agent holding a
mutating tool, or an undefined ``{{placeholder}}`` is a :class:`ConfigError`
at load time, not a surprise in the middle of an incident.

Numbers a prompt quotes about limits are ``{{placeholders}}`` rendered from
code (see :func:`code_values`), so the text can never drift from what the
policy engine enforces.
"""

from __future__ import annotations

import functools
import re
import site
import sys
import sysconfig
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.agents._tools import AGENT_NAMES, SESSION_KIND, ToolCall, is_mutating, known_tools, parse_calls
from engine.config import Settings, load_settings
from engine.domain import FINDINGS, SELECTOR_KEYS
from engine.errors import ConfigError
from engine.operations import RESTART_COMPONENTS
from engine.policy import MAX_CONFIG_BATCH

AUTONOMY_LEVELS = ("orchestrate", "heal", "provision", "recommend", "read_only", "comms")
"""What each agent may do on its own.  The last three may hold no mutating tool."""

NON_ACTING_LEVELS = frozenset({"recommend", "read_only", "comms"})
CADENCE_KINDS = ("always_on", "interval", "on_demand", "spawned", "schedule")
NEVER_ALONE = frozenset({"teardown", "provision_pairs", "resize"})
"""Tools no agent may start without an operator: they delete, buy or re-price servers (rules 3 and 7)."""

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def code_values(settings: Settings | None = None) -> dict[str, str]:
    """Values the content may quote, taken from the code and settings that enforce them.

    Guardian's thresholds, heal ladder and limits come in as ``{{guardian_*}}`` (from
    :func:`engine.guardian.skill_values`), so the auto-heal, failover, incident-response and
    provider-health skills quote the very numbers the sweep enforces.
    """
    from engine.guardian import skill_values  # local: keeps importing the loader light

    threshold = (
        settings.confirm_threshold if settings is not None else Settings.model_fields["confirm_threshold"].default
    )
    return {
        "confirm_threshold": str(threshold),
        "max_config_batch": str(MAX_CONFIG_BATCH),
        "restart_components": ", ".join(RESTART_COMPONENTS),
        "selector_keys": ", ".join(SELECTOR_KEYS),
        "findings": ", ".join(FINDINGS),
        **skill_values(),
    }


def render(text: str, values: Mapping[str, str], where: str) -> str:
    """Fill ``{{name}}`` placeholders; an unknown name is an error, never left in a prompt."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(
                f"{where} uses {{{{{key}}}}}, which is not a known value; known: {', '.join(sorted(values))}."
            )
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


# ---------------------------------------------------------------------------------------------- locating content
_MARKERS = {"agents": "commander/agent.toml", "skills": "clawops/SKILL.md"}


def _has(folder: Path, kind: str) -> bool:
    """A marker file, not just the folder name: site-packages may hold an unrelated ``agents`` package."""
    return (folder / kind / _MARKERS[kind]).is_file()


def _checkout_root() -> Path:
    """The folder holding ``engine/`` (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[2]


def _install_roots() -> list[Path]:
    """Where a wheel's ``share/clawops`` data files land: the environment, then the user scheme."""
    roots = [Path(sys.prefix), Path(sysconfig.get_path("data")), Path(site.getuserbase())]
    return [r / "share" / "clawops" for r in dict.fromkeys(roots)]


def content_root(kind: str = "agents", content_dir: Path | None = None, *, settings: Settings | None = None) -> Path:
    """Where the ``agents/`` or ``skills/`` folder is, in this order.

    1. ``<content_dir>/<kind>``: the argument, else the ``content_dir`` setting (env ``CLAWOPS_CONTENT_DIR``) of
       ``settings`` (default: the settings loaded now, ~3 ms of CPU), an operator's own edited copy;
    2. the source checkout (``engine/`` sits next to ``agents/`` and ``skills/``; editable installs too);
    3. an installed wheel's data files, ``<prefix>/share/clawops/<kind>`` (environment, then user install).
    """
    if kind not in ("agents", "skills"):
        raise ValueError(f"kind must be 'agents' or 'skills', not {kind!r}")
    candidates: list[Path] = []
    if content_dir is not None:
        override: Path | None = content_dir
    else:
        override = (settings if settings is not None else load_settings()).content_dir
    if override is not None:
        candidates.append(override.expanduser())
    candidates.append(_checkout_root())
    candidates.extend(_install_roots())
    for base in candidates:
        if _has(base, kind):
            return base / kind
    tried = ", ".join(str(c / kind) for c in candidates)
    raise ConfigError(f"The {kind} folder was not found (tried {tried}); set CLAWOPS_CONTENT_DIR or reinstall clawops.")


# ---------------------------------------------------------------------------------------------- agents
@dataclass(frozen=True, slots=True)
class Cadence:
    """When an agent runs: always on, every N seconds, on demand, spawned, or on a schedule."""

    kind: str
    every_seconds: int | None = None
    schedule: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "interval" and self.every_seconds:
            secs = self.every_seconds
            unit, size = next((u, s) for u, s in (("h", 3600), ("min", 60), ("s", 1)) if secs % s == 0)
            return f"every {secs // size} {unit}"
        if self.kind == "schedule":
            return "; ".join(self.schedule)
        return {"always_on": "always on", "on_demand": "on demand", "spawned": "spawned per task"}[self.kind]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent as loaded from ``agents/<name>/``: who it is, what it may call, when it runs."""

    name: str
    tag: str
    persona: str
    model: str
    max_tokens: int
    autonomy: str
    acts_alone: tuple[str, ...]
    cadence: Cadence
    tools: tuple[str, ...]
    skills: tuple[str, ...]
    may_spawn: tuple[str, ...]
    may_message: tuple[str, ...]
    soul: str = field(repr=False)
    instructions: str = field(repr=False)
    folder: Path = field(repr=False)

    def allows(self, tool: str) -> bool:
        """Whether ``tool`` is in this agent's allowance (the LLM brain offers only these)."""
        return tool in self.tools

    @property
    def mutating_tools(self) -> tuple[str, ...]:
        return tuple(t for t in self.tools if is_mutating(t))


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} needs a non-empty string '{key}'.")
    return value.strip()


def _names(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of names.")
    return tuple(value)


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where} needs a [{key}] table.")
    return value


def _cadence(table: Mapping[str, Any], where: str) -> Cadence:
    kind = _str(table, "kind", f"{where} [cadence]")
    if kind not in CADENCE_KINDS:
        raise ConfigError(f"{where}: cadence kind '{kind}' is not one of {', '.join(CADENCE_KINDS)}.")
    if kind == "interval":
        match = _DURATION.match(_str(table, "every", f"{where} [cadence]"))
        if match is None:
            raise ConfigError(f"{where}: cadence 'every' must look like 5m, 6h or 30s.")
        return Cadence(kind, every_seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if kind == "schedule":
        times = _names(table, "at", f"{where} [cadence]")
        if not times:
            raise ConfigError(f"{where}: a scheduled cadence needs 'at', e.g. [\"daily 07:00 UTC\"].")
        return Cadence(kind, schedule=times)
    return Cadence(kind)


def load_agent(folder: Path, values: Mapping[str, str] | None = None) -> AgentSpec:
    """Load and check one ``agents/<name>/`` folder; ``values`` fill its placeholders (plus ``{{cadence}}``)."""
    name = folder.name
    for required in ("SOUL.md", "AGENTS.md", "agent.toml"):
        if not (folder / required).is_file():
            raise ConfigError(
                f"agents/{name} is missing {required}; every agent needs SOUL.md, AGENTS.md and agent.toml."
            )
    texts = tuple((folder / f).read_text(encoding="utf-8") for f in ("agent.toml", "SOUL.md", "AGENTS.md"))
    filled = values if values is not None else code_values()
    return _agent(folder, texts, tuple(sorted(filled.items())))


@functools.lru_cache(maxsize=128)
def _agent(folder: Path, texts: tuple[str, str, str], values: tuple[tuple[str, str], ...]) -> AgentSpec:
    """One agent from its files' texts, remembered by those texts and values: every engine and LLM brain loads
    the team, and parsing and checking it again cost ~2 ms each time.  An edited file is a new text, so it is
    loaded (and checked) afresh; a spec is frozen, so sharing one is safe."""
    name = folder.name
    where = f"agents/{name}/agent.toml"
    toml_text, soul, instructions = texts
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where} is not valid TOML ({err}); fix the file.") from None
    if _str(data, "name", where) != name:
        raise ConfigError(f"{where} says name = '{data['name']}' but lives in agents/{name}; make them match.")
    autonomy_t = _table(data, "autonomy", where)
    tools_t = _table(data, "tools", where)
    delegation = data.get("delegation", {})
    tools = _names(tools_t, "allowed", f"{where} [tools]")
    known = known_tools()
    unknown = [t for t in tools if t not in known]
    if unknown:
        raise ConfigError(f"{where} allows '{unknown[0]}', which is not a tool; tools are: {', '.join(known)}.")
    autonomy = _str(autonomy_t, "level", f"{where} [autonomy]")
    if autonomy not in AUTONOMY_LEVELS:
        raise ConfigError(f"{where}: autonomy level '{autonomy}' is not one of {', '.join(AUTONOMY_LEVELS)}.")
    mutating = [t for t in tools if is_mutating(t)]
    if autonomy in NON_ACTING_LEVELS and mutating:
        raise ConfigError(f"{where}: a '{autonomy}' agent may not hold the mutating tool '{mutating[0]}'.")
    if autonomy == "read_only" and any(known[t].kind == SESSION_KIND for t in tools):
        raise ConfigError(f"{where}: a read_only agent reports through its result, not through session tools.")
    acts_alone = _names(autonomy_t, "acts_alone", f"{where} [autonomy]")
    for tool in acts_alone:
        if tool not in tools:
            raise ConfigError(f"{where}: acts_alone names '{tool}', which is not in the allowed tools.")
        if tool in NEVER_ALONE:
            raise ConfigError(f"{where}: '{tool}' can never be started without an operator; remove it from acts_alone.")
    spawn = _names(delegation, "spawn", f"{where} [delegation]")
    message = _names(delegation, "message", f"{where} [delegation]")
    for other in spawn + message:
        if other not in AGENT_NAMES:
            raise ConfigError(f"{where}: delegation names '{other}', which is not an agent.")
    if spawn and "sessions_spawn" not in tools:
        raise ConfigError(f"{where}: delegation.spawn needs sessions_spawn in the allowed tools.")
    if message and "sessions_send" not in tools:
        raise ConfigError(f"{where}: delegation.message needs sessions_send in the allowed tools.")
    max_tokens = data.get("max_tokens", 2048)
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ConfigError(f"{where}: max_tokens must be a positive whole number.")
    cadence = _cadence(_table(data, "cadence", where), where)
    filled = {**dict(values), "cadence": cadence.describe()}
    return AgentSpec(
        name=name,
        tag=_str(data, "tag", where),
        persona=_str(data, "persona", where),
        model=_str(data, "model", where),
        max_tokens=max_tokens,
        autonomy=autonomy,
        acts_alone=acts_alone,
        cadence=cadence,
        tools=tools,
        skills=_names(data.get("skills", {}), "use", f"{where} [skills]"),
        may_spawn=spawn,
        may_message=message,
        soul=render(soul, filled, f"agents/{name}/SOUL.md"),
        instructions=render(instructions, filled, f"agents/{name}/AGENTS.md"),
        folder=folder,
    )


def load_agents(
    root: Path | None = None, values: Mapping[str, str] | None = None, *, settings: Settings | None = None
) -> dict[str, AgentSpec]:
    """Every agent under ``root`` (default: :func:`content_root` for ``settings``), by name, in the team's order."""
    base = root if root is not None else content_root("agents", settings=settings)
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    agents = {p.name: load_agent(p, values) for p in folders}
    order = {n: i for i, n in enumerate(AGENT_NAMES)}
    return dict(sorted(agents.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


# ---------------------------------------------------------------------------------------------- skills
@dataclass(frozen=True, slots=True)
class Skill:
    """One runbook: front matter (name, description, keywords, agents) and its rendered body."""

    name: str
    description: str
    keywords: tuple[str, ...]
    agents: tuple[str, ...]
    always: bool
    body: str = field(repr=False)
    path: Path = field(repr=False)

    @property
    def calls(self) -> list[ToolCall]:
        """The example tool calls in the runbook (already checked for syntax at load time)."""
        return parse_calls(self.body)[0]

    def prompt(self) -> str:
        """The skill as it goes into a system prompt, its headings nested under "## Skill: <name>"."""
        body = "\n".join(f"##{line}" if line.startswith("#") else line for line in self.body.strip().splitlines())
        return f"## Skill: {self.name}\n{self.description}\n\n{body}\n"


_FRONT_KEYS = ("name", "description", "keywords", "agents", "always")


def parse_front_matter(text: str, where: str) -> tuple[dict[str, str], str]:
    """Split ``---``-fenced ``key: value`` lines from the body.

    Deliberately tiny (one line per key, comma-separated lists) so no YAML
    library is needed and nothing clever can hide in a skill header.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{where} must start with a '---' front matter block (name, description).")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ConfigError(f"{where}: the front matter block is not closed with '---'.") from None
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in _FRONT_KEYS:
            raise ConfigError(f"{where}: front matter line '{line.strip()}' is not one of {', '.join(_FRONT_KEYS)}.")
        meta[key] = value.strip()
    return meta, "\n".join(lines[end + 1 :]) + "\n"


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in value.split(",") if v.strip())


def load_skill(path: Path, values: Mapping[str, str] | None = None) -> Skill:
    """Load and check one ``skills/<name>/SKILL.md``."""
    filled = values if values is not None else code_values()
    return _skill(path, path.read_text(encoding="utf-8"), tuple(sorted(filled.items())))


@functools.lru_cache(maxsize=256)
def _skill(path: Path, text: str, values: tuple[tuple[str, str], ...]) -> Skill:
    """One skill from its file's text, remembered by that text and the values: every LLM brain loads the skills,
    and rendering them and parsing every example call again cost ~3 ms each time.  An edited file is a new text,
    so it is loaded (and checked) afresh; a skill is frozen, so sharing one is safe."""
    name = path.parent.name
    where = f"skills/{name}/SKILL.md"
    meta, body = parse_front_matter(text, where)
    if meta.get("name") != name:
        raise ConfigError(f"{where}: front matter name must be '{name}' (the folder name).")
    if not meta.get("description"):
        raise ConfigError(f"{where}: front matter needs a description (it decides when the skill is loaded).")
    agents = _list(meta.get("agents", ""))
    unknown = [a for a in agents if a not in AGENT_NAMES]
    if unknown:
        raise ConfigError(f"{where}: agents names '{unknown[0]}', which is not an agent.")
    rendered = render(body, dict(values), where)
    problems = parse_calls(rendered)[1]
    if problems:
        raise ConfigError(f"{where}: {problems[0]}.")
    return Skill(
        name=name,
        description=meta["description"],
        keywords=_list(meta.get("keywords", "")),
        agents=agents,
        always=meta.get("always", "false").lower() == "true",
        body=rendered,
        path=path,
    )


def load_skills(
    root: Path | None = None, values: Mapping[str, str] | None = None, *, settings: Settings | None = None
) -> dict[str, Skill]:
    """Every skill under ``root`` (default: :func:`content_root` for ``settings``), by name.

    ``values`` fills the ``{{placeholders}}``; by default :func:`code_values`
    (pass ``code_values(settings)`` so a stricter confirm threshold shows up too).
    """
    base = root if root is not None else content_root("skills", settings=settings)
    paths = sorted(p / "SKILL.md" for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    missing = [p.parent.name for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"skills/{missing[0]} has no SKILL.md.")
    return {p.parent.name: load_skill(p, values) for p in paths}
