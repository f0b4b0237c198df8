"""Choosing skills for a turn, composing an agent's system prompt, and checking the content.

Skills are loaded by relevance, not all into every prompt: a short request
about an outage should bring the failover and incident runbooks, not the cost
model.  Scoring is plain keyword overlap (deterministic, explainable, fast),
with place and provider names from the domain catalog folded into the words
"region" and "provider" so "Hetzner Nuremberg" finds the regional runbooks.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

from engine.agents._content import AgentSpec, Skill, parse_front_matter
from engine.agents._tools import AGENT_NAMES, check_call, known_tools, parse_calls
from engine.domain import REGIONS, Provider
from engine.errors import PolicyRefusal
from engine.operations import CONTRACT_TOOLS

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by can do for from has have how i in is it its me my of on or our please so that the "
    "their them then there these this to up us was we what when where which will with you your".split()
)
_NOT_PLACES = frozenset({"east", "central", "local"})


def _stem(word: str) -> str:
    """A crude, symmetric stemmer: good enough that "deleted"/"delete" and "looks"/"look" meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


@functools.lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    """The text's stemmed words without stop words.  Remembered: the same skill names, descriptions and keywords
    (and the turn's message, once per skill) are scored on every model request."""
    return tuple(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP)


_PROVIDER_WORDS = frozenset(_stem(p.value) for p in Provider if p is not Provider.SIM) | {"digitalocean"}
_PLACES = tuple(
    {
        " ".join(_words(name))
        for r in REGIONS.values()
        if r.provider is not Provider.SIM
        for name in (r.city, r.location)
        if name.lower() not in _NOT_PLACES
    }
)


_DO = re.compile(r"\bDO\b")


def _expand(text: str, words: tuple[str, ...]) -> set[str]:
    """The words of the text plus "provider"/"region" when it names one (Hetzner, DO, Nuremberg, fsn1…)."""
    out = set(words)
    joined = f" {' '.join(words)} "
    if out & _PROVIDER_WORDS or " digital ocean " in joined or _DO.search(text):
        out.add("provider")
    if any(f" {place} " in joined for place in _PLACES):
        out.add("region")
    return out


def skill_score(text: str, skill: Skill) -> int:
    """How relevant ``skill`` is to ``text``.

    Name words 3 and description words 1 count only on the operator's own
    words; keywords 2 also match the implied "provider"/"region" (a keyword
    phrase matches when all its words are present).
    """
    words = _words(text)
    own = set(words)
    have = _expand(text, words)
    score = 3 * len(own & set(_words(skill.name.replace("-", " "))))
    for keyword in skill.keywords:
        kw = _words(keyword)
        if kw and all(w in have for w in kw):
            score += 2
    score += len(own & set(_words(skill.description)))
    return score


def relevant_skills(text: str, skills: Mapping[str, Skill] | Iterable[Skill], limit: int = 3) -> list[Skill]:
    """The skills to load for ``text``: ``always`` skills first, then up to ``limit`` by score (ties by name)."""
    pool = list(skills.values()) if isinstance(skills, Mapping) else list(skills)
    always = sorted((s for s in pool if s.always), key=lambda s: s.name)
    scored = sorted(((skill_score(text, s), s.name, s) for s in pool if not s.always), key=lambda t: (-t[0], t[1]))
    return always + [s for score, _, s in scored if score > 0][: max(limit, 0)]


def build_system_prompt(agent: AgentSpec, skills: Mapping[str, Skill], text: str, limit: int = 3) -> str:
    """SOUL.md + AGENTS.md + the skills relevant to this turn (from the agent's own list)."""
    mine = {n: s for n, s in skills.items() if not agent.skills or n in agent.skills}
    chosen = relevant_skills(text, mine, limit)
    parts = [agent.soul.strip(), agent.instructions.strip()]
    if chosen:
        parts.append("# Skills for this turn\n\n" + "\n".join(s.prompt() for s in chosen))
    return "\n\n".join(parts) + "\n"


def authorize(agent: AgentSpec, tool: str) -> None:
    """Refuse a call outside the agent's allowance, naming the rule, before it reaches the operation layer.

    The LLM brain offers each agent only its allowed tools; this is the second
    lock for anything that slips past (a hallucinated tool name, an injected
    instruction), so the refusal is audited like any policy refusal.
    """
    if not agent.allows(tool):
        raise PolicyRefusal(
            "agent_allowance",
            f"Refused: {agent.name} may not call {tool}; its tools are {', '.join(agent.tools)}.",
        )


_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LIMIT_IN_PROSE = re.compile(
    r"(?i)\b(more than|fewer than|at most|at least|above|below|up to|exceeds?|maximum of|minimum of|threshold of|limit of)"
    r"\s+\d+|[<>≤≥]\s*\d+"
)


def _prose_limits(text: str, where: str) -> list[str]:
    """Numeric limits written into prose: they belong in code and arrive here as ``{{placeholders}}``."""
    problems = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _LIMIT_IN_PROSE.search(_CODE_SPAN.sub("", line))
        if match:
            problems.append(
                f"{where}:{lineno}: '{match.group(0)}…' is a limit written in prose; quote it from code with a {{{{placeholder}}}}"
            )
    return problems


def lint_content(agents: Mapping[str, AgentSpec], skills: Mapping[str, Skill]) -> list[str]:
    """Every way the content disagrees with the engine, one sentence each; empty when consistent.

    Loading already refuses malformed files; this checks the team as a whole:
    the six agents are all there, every example call in every runbook is a
    call the engine would accept (names, arguments, values), every contract
    tool is taught by some skill, cross references resolve, and no limit lives
    only in prose.
    """
    problems: list[str] = []
    missing = [n for n in AGENT_NAMES if n not in agents]
    problems += [f"agent '{n}' is missing (ARCHITECTURE §5 has six agents)" for n in missing]
    taught: set[str] = set()
    for skill in skills.values():
        where = f"skills/{skill.name}/SKILL.md"
        calls, syntax = parse_calls(skill.body)
        problems += [f"{where}: {p}" for p in syntax]
        for call in calls:
            taught.add(call.tool)
            problems += [f"{where}:{call.line}: `{call.text}`: {p}" for p in check_call(call.tool, call.args)]
        raw = skill.path.read_text(encoding="utf-8")
        problems += _prose_limits(parse_front_matter(raw, where)[1], where)
        for name in skill.agents:
            if name in agents and skill.name not in agents[name].skills:
                problems.append(f"{where} is for {name}, but agents/{name}/agent.toml does not list it")
    problems += [f"no skill shows how to call the contract tool '{t}'" for t in CONTRACT_TOOLS if t not in taught]
    for agent in agents.values():
        problems += [
            f"agents/{agent.name}/agent.toml uses the skill '{s}', which does not exist"
            for s in agent.skills
            if s not in skills
        ]
        for filename in ("SOUL.md", "AGENTS.md"):
            problems += _prose_limits(
                (agent.folder / filename).read_text(encoding="utf-8"), f"agents/{agent.name}/{filename}"
            )
        for call in parse_calls(agent.instructions)[0]:
            where = f"agents/{agent.name}/AGENTS.md:{call.line}"
            problems += [f"{where}: `{call.text}`: {p}" for p in check_call(call.tool, call.args)]
            if call.tool in known_tools() and not agent.allows(call.tool):
                problems.append(f"{where}: {agent.name} is told to call {call.tool} but is not allowed it")
    return problems
