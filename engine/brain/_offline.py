"""The offline brain: deterministic understanding of operator language.

No model, no network: words → tool calls, the same tool calls the LLM brain
would propose, for every tool of ARCHITECTURE §3.  It knows paraphrases,
numbers in words, providers, regions and tiers by their common names
("Nuremberg", "EU", "DO", "the cheap tier"), compound requests, follow-ups
that lean on the last answer ("downsize the 18", "restart them"), standing
preferences ("leave Contabo alone") and confirmations.  Unknown input gets an
honest "I didn't understand — did you mean …?", never a guess that acts.

It is stateless: the conversation hands it a :class:`BrainContext`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from engine.brain import _config_schema, _dialogue, _entities
from engine.brain._config_schema import check_config, parse_config
from engine.brain._dialogue import AMEND_START, follow_up, resolve_references
from engine.brain._entities import (
    ACCOUNT_RE,
    CITY_WORDS,
    GEO_WORDS,
    INSTANCE_RE,
    PROVIDER_WORDS,
    ROLE_WORDS,
    STATE_WORDS,
    TIER_WORDS,
)
from engine.brain._entities import filters as _filters
from engine.brain._entities import ids as _ids
from engine.brain._entities import words as _words
from engine.brain._intents import (
    BrainContext,
    CancelIntent,
    ClarifyIntent,
    ConfirmIntent,
    ForgetIntent,
    HelpIntent,
    Intent,
    RecallIntent,
    RememberIntent,
    SuspectIntent,
    ToolIntent,
    UnknownIntent,
)
from engine.brain._lexicon import COMMON_WORDS, FLEET_VOCABULARY, Prepared, prepare
from engine.brain._lexicon import _unicode_normalize as door_normalize
from engine.domain import REGIONS, InstanceState
from engine.operations import TOOLS as _TOOL_SPECS

__all__ = [
    "MAX_MESSAGE_CHARS",
    "SUGGESTIONS",
    "OfflineBrain",
    "answers_offline",
    "apply_exclusions",
    "ask_back",
    "injection_marker",
    "left_alone",
]

MAX_MESSAGE_CHARS = 4000
REAL_PROVIDERS = ("hetzner", "vultr", "digitalocean", "contabo", "hostinger")
SELECTOR_TOOLS = frozenset({"teardown", "resize", "restart", "failover", "config_push", "silence_alerts"})

CONFIRM = {
    "go",
    "yes",
    "y",
    "confirm",
    "confirmed",
    "do it",
    "proceed",
    "approve",
    "approved",
    "go ahead",
    "yes go",
    "ok go",
    "yes please",
    "ship it",
    "yes go ahead",
    "make it so",
    "go for it",
    "yep",
    "yeah",
    "ok do it",
    "sure",
    "sounds good go",
    "lgtm",
    "execute",
    "go go",
    "affirmative",
    "okay go",
}
CANCEL = {
    "cancel",
    "no",
    "n",
    "stop",
    "abort",
    "never mind",
    "nevermind",
    "dont",
    "don't",
    "no thanks",
    "scrap that",
    "forget it",
    "nope",
    "nah",
    "no don't",
    "scratch that",
    "drop it",
    "drop that",
    "kill it",
    "hold off",
    "don't do it",
    "cancel that",
    "cancel it",
    "belay that",
}
HELP = {"help", "?", "what can you do", "commands", "how does this work", "what can you do for me", "who are you"}

PROVIDER_ALT = r"(hetzner|vultr|digitalocean|digital ocean|do|contabo|hostinger|sim)"
INJECTION_RE = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.]{0,30}\b(rules?|instructions?|polic(?:y|ies)|guardrails?|"
    r"safety|system prompt)\b|\b(?:ignore|disregard) (?:all |the |any |everything )?(?:previous|prior|above)\b|\byou are now\b|\bsystem prompt\b|\bjailbreak\b|"
    r"\bdeveloper mode\b|\bwithout (?:asking|confirmation|confirming)\b|\bno confirmation\b|"
    r"\bskip (?:the )?confirm|\bnew instructions\b|\bact as (?:an? )?(?:admin|root|owner)\b"
)
PROVISION_RE = re.compile(r"\b(provision|spin up|spin|create|launch|deploy|onboard|set up|add|build|stand up|order)\b")
_LABEL_WORDS = (
    r"(?:label(?:l?ed)?|tag(?:ged)?|call(?:ed)?|name(?:d)?)(?: (?:them|it|those|these|each|all|the pairs))?(?: as)?"
)
LABEL_PHRASE_RE = re.compile(rf"(?i)\b{_LABEL_WORDS}[ :=]*[\"'“]?([a-z0-9][\w.-]{{0,79}})[\"'”]?")
"""A label for new pairs, said as "label them Acme-Beta", "tagged 'pilot 2'", "named acme"."""
FOR_LABEL_RE = re.compile(r"\bfor (?:[\"'“]([^\"'”]{1,80})[\"'”]|([A-Z][A-Z0-9_-]{2,})\b)")
"""A label as a customer's name: quoted, or written in capitals ("20 pairs for COMPANION")."""


def _label(raw: str) -> str | None:
    """The label the operator gave new pairs, in their own letter case (the folded text has lost it)."""
    quoted = re.search(rf"(?i)\b{_LABEL_WORDS}[ :=]*[\"'“]([^\"'”]{{1,80}})[\"'”]", raw)
    said = quoted or LABEL_PHRASE_RE.search(raw) or FOR_LABEL_RE.search(raw)
    if said is None:
        return None
    return next(group for group in said.groups() if group)


PROVISION_NOUN_RE = re.compile(
    r"\b(pairs?|accounts?|users?|instances?|gateways?|vps|servers?|customers?|boxes|"
    r"machines|nodes)\b"
)
TEARDOWN_RE = re.compile(
    r"\b(tear ?down|teardown|decommission|destroy|delete|remove|offboard|kill|nuke|"
    r"get rid of|cancel the servers|retire|deprovision|wipe)\b"
)
FAILOVER_RE = re.compile(
    r"\b(fail ?over|failover|fail (?:them|it|those|these) over|promote|switch over|cut ?over|swap to (?:the )?standby)\b"
)
RESIZE_RE = re.compile(
    r"\b(resize|upsize|downsize|upgrade|downgrade|move|shrink|rightsize|right-size|scale down|"
    r"scale up|bump|step down)\b"
)
DOWN_RE = re.compile(r"\b(downsize|downgrade|shrink|rightsize|right-size|scale down|step down|smaller)\b")
UP_RE = re.compile(r"\b(upsize|upgrade|scale up|bump|bigger)\b")
RESTART_RE = re.compile(r"\b(restart|reboot|bounce|kick|power[- ]?cycle|recycle|reload|cycle)\w*")
SILENCE_RE = re.compile(r"\b(silence|mute|snooze|quiet|suppress|shush|hush|pause alerts|stop alerting)\w*")
CONFIG_RE = re.compile(r"\b(config|configuration|settings?)\b")
CONFIG_VERB_RE = re.compile(r"\b(push|roll ?out|rollout|deploy|apply|set|change|update|ship)\b")
JOB_ID_RE = re.compile(r"\b(job-[0-9a-f]{4,32})\b")
SWEEP_RE = re.compile(
    r"\b(sweep|health ?check)\b.*\b(now|again|right away|please)\b|"
    r"\b(run|do|start|trigger) (?:a |the |guardian'?s? )?(?:health )?(sweep|health ?check)\b"
)
STOP_JOB_RE = re.compile(
    r"^(?:please |now )?(?:stop|halt|abort|kill|interrupt|terminate|cancel)\s+"
    r"(?:(?:the|that|this|my|running|current|ongoing)\s+)*"
    r"(?:jobs?\b|job-[0-9a-f]{4,32}\b|provisioning\b|rollout\b|config push\b|failover\b|teardown\b|"
    r"(?:that|it|this)\s*$)"
)
"""A request to stop running work ("stop job job-1a2b", "stop that", "abort the provisioning")."""
JOB_WORDS_RE = re.compile(r"\b(job|progress|is it done|is it finished|still running|how far|eta)\b")
JOBS_LIST_RE = re.compile(
    r"\b(jobs|(?:what(?:'s| is| are)|anything|something|is (?:any|some)thing)(?: (?:still|currently|now|right now))?"
    r" (?:running|in progress|under ?way|in flight)|what are (?:you|you guys|the agents|the team) (?:doing|working on|"
    r"busy with))\b"
)
"""Questions about the team's work, not the fleet ("what's running in Nuremberg" is a fleet question)."""
AUDIT_RE = re.compile(
    r"\b(audit|audit log|who (?:did|restarted|deleted|tore|resized|changed|approved|confirmed|provisioned|"
    r"touched|failed over)|history|what did (?:guardian|forge|commander|ledger|triage|briefer|the team|you)|"
    r"what happened (?:to|on|with)|trail|changelog|recent actions|what changed)\b"
)
PROVIDER_HEALTH_RE = re.compile(
    rf"\b(providers? (?:health|status|outages?)|status pages?|outages?|incidents? at|"
    rf"is {PROVIDER_ALT}(?: \w+)? (?:down|up|ok|okay|healthy|having|broken|alright|fine|working|degraded)|"
    rf"(?:health|status) of (?:the )?providers?|how are the providers|{PROVIDER_ALT} (?:health|status page)|"
    rf"exposure|exposed|impact|blast radius|provider problems?|any provider|went down|(?<!what )(?<!which )(?:is|are) down|"
    rf"(?:looks?|seems?|appears?)(?: to be)? (?:down|broken|dead|unreachable|out))\b"
)
ADDITIVE_RE = re.compile(r"\b(too|as well|also|in addition|additionally|on top of that)\b")
"""Words that ask for something *besides* what is already waiting (the pending plan stays)."""
IMPACT_RE = re.compile(r"\b(exposure|exposed|impact(?:ed)?|blast radius)\b")
"""Words that ask how much an incident touches us: they refer to the place being discussed."""
WIDE_RE = re.compile(r"\b(all|every|overall|any|other|whole)\b")
"""Words that widen a question beyond the place just discussed ("how are *all* the providers")."""
COST_RE = re.compile(
    r"\b(costs?|spend(?:ing)?|spent|bill|billing|invoices?|budget|expenses?|burn|money|pay(?:ing)?|"
    r"waste|wasting|wasted|savings?|save|optimi[sz]e|forecast|run ?rate|cheaper|idle|oversized|"
    r"overpriced|underused|underutili[sz]ed|price|prices|pricing)\b"
)
FORECAST_RE = re.compile(
    r"\b(forecast|project(?:ed|ion)?|next month|end of (?:the )?month|run ?rate|predict\w*|"
    r"will we|going to cost)\b"
)
WASTE_RE = re.compile(
    r"\b(waste|wasting|wasted|optimi[sz]e|savings?|save|cut|reduce|trim|idle|oversized|cheaper|"
    r"overpriced|underused|underutili[sz]ed|lower)\b"
)
DIAGNOSE_RE = re.compile(
    r"\b(diagnose|diagnostics?|troubleshoot|debug|investigate|run (?:the )?checks|"
    r"health ?check|what'?s wrong|what is wrong|why is|why are|why did|why does|look into|"
    r"dig into|root cause)\b"
)
INSPECT_RE = re.compile(
    r"\b(show|inspect|details?|look at|tell me about|what about|check|describe|info|"
    r"where is|pull up|open)\b"
)
STATUS_RE = re.compile(
    r"\b(status|fleet|overview|how'?s|how is|how are|how many|what'?s|what is|what are|anything|show|list|"
    r"which|count|health|summary|report|degraded|failed|down|problems?|issues?|dashboard|numbers|"
    r"state of|all good|everything ok|are we ok|sitrep)\b"
)
BRIEFING_RE = re.compile(
    r"\b(brief(?:ing)?|debrief|morning report|daily report|weekly report|digest|"
    r"summary for (?:today|the week))\b"
)
SPLIT_RE = re.compile(r"\s*(?:;|\.\s+|,?\s+then\s+|,?\s+and then\s+|,?\s+after that\s+|,?\s+also\s+|\n)\s*")
ACTION_START = re.compile(
    r"^(?:and\s+|also\s+|please\s+)?(provision|spin|create|launch|onboard|add|restart|reboot|bounce|optimi[sz]e|cut|"
    r"brief|tear|teardown|decommission|delete|remove|destroy|fail|failover|promote|resize|downsize|upsize|shrink|"
    r"upgrade|downgrade|show|inspect|leave|don'?t|never|skip|silence|mute|snooze|push|roll|set|check|what|how|"
    r"list|diagnose|investigate|forecast|give|tell|send|remember|forget|is|are|find)\b"
)
EXCEPT_RE = re.compile(
    rf"\b(?:except(?: for)?|excluding|exclude|but not|not on|apart from|other than|leave|leaving|skip|skipping|"
    rf"without touching|don'?t touch|do not touch|never touch|keep away from|stay away from|spare|sparing|"
    rf"hands off)\s+(?:the\s+)?(?:ones\s+on\s+|on\s+|instances\s+on\s+)?{PROVIDER_ALT}\b(?:\s+alone)?(?:\s+out)?"
)
PRONOUN_RE = re.compile(r"\b(them|those|these|they|their|its|it|the same ones|that lot|the ones)\b")
THE_N_RE = re.compile(r"\bthe (\d{1,6}|[a-z]+(?:[- ][a-z]+)?)\b(?! (?:tier|minutes?|hours?|days?))")
FINDING_WORDS = (
    (re.compile(r"\b(idle|unused|inactive|abandoned|dormant|nobody uses|not used)\b"), "idle"),
    (
        re.compile(r"\b(oversized|over-sized|overprovisioned|over-provisioned|too big|underused|underutili[sz]ed)\b"),
        "oversized",
    ),
    (re.compile(r"\b(cheaper elsewhere|cheaper_elsewhere|overpriced|cheaper)\b"), "cheaper_elsewhere"),
)
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "dozen": 12,
    "couple": 2,
}
DURATION_RE = re.compile(
    r"\b(\d{1,5}|an?|one|two|three|four|five|six|ten|twelve|fifteen|twenty|thirty|forty-five|forty five|"
    r"forty|ninety|half an?)\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?)\b"
)
AGENT_WORDS = ("commander", "guardian", "forge", "ledger", "triage", "briefer")
AUDIT_ACTIONS = {
    "restart": "restart",
    "reboot": "restart",
    "teardown": "teardown",
    "tore": "teardown",
    "delete": "teardown",
    "deleted": "teardown",
    "resize": "resize",
    "resized": "resize",
    "failover": "failover",
    "failed over": "failover",
    "provision": "provision_pairs",
    "provisioned": "provision_pairs",
    "refus": "refused",
    "silence": "silence_alerts",
    "config": "config_push",
    "confirm": "confirm",
}

NEED_RE = re.compile(r"\b(need|want|would like)\b.*\b(new|more|additional|extra)\b")
SET_RE = re.compile(r"^(?:please )?set (?:the )?[a-z_][a-z0-9_. ]{1,40}? (?:to|=) ")
NO_ARCHIVE_RE = re.compile(r"\b(without archiv\w*|no archive|don'?t archive|skip (?:the )?archiv\w*|not archived)\b")
ACTION_VERBS = (
    "restart",
    "reboot",
    "provision",
    "teardown",
    "decommission",
    "failover",
    "resize",
    "downsize",
    "upsize",
    "diagnose",
    "silence",
    "inspect",
    "forecast",
    "optimize",
    "briefing",
    "delete",
    "destroy",
    "upgrade",
    "downgrade",
    "promote",
)
SUGGESTIONS = ("fleet status", "what's degraded on hetzner?", "show acct-042", "restart everything degraded on vultr")
VOCABULARY = (
    "restart",
    "reboot",
    "provision",
    "teardown",
    "decommission",
    "status",
    "fleet",
    "degraded",
    "failed",
    "failover",
    "resize",
    "downsize",
    "upsize",
    "inspect",
    "diagnose",
    "silence",
    "briefing",
    "brief",
    "cost",
    "costs",
    "forecast",
    "waste",
    "optimize",
    "config",
    "push",
    "audit",
    "provider",
    "health",
    "hetzner",
    "vultr",
    "contabo",
    "hostinger",
    "digitalocean",
    "everything",
    "pairs",
    "accounts",
    "show",
    "standard",
    "nano",
    "performance",
    "alerts",
    "primary",
    "standby",
    "gateway",
    "docker",
)


_KNOWN_WORDS = frozenset(
    {
        *ACTION_VERBS,
        *STATE_WORDS,
        *GEO_WORDS,
        *TIER_WORDS,
        *ROLE_WORDS,
        *PROVIDER_WORDS,
        *NUMBER_WORDS,
        "restarts",
        "restarted",
        "rebooted",
        "provisioned",
        "deleted",
        "resized",
        "status",
        "states",
        "started",
        "rebalance",
        "stats",
        "restore",
        "reset",
        "update",
        "upgraded",
        "inspected",
        "deploy",
        "degrade",
    }
)


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def injection_marker(text: str) -> str | None:
    """The phrase that makes ``text`` read like a prompt injection, or None.

    Used on operator messages here and by the LLM brain on fleet text (labels,
    node logs, transcripts) before it is handed to a model as data.  Matched on the folded form
    (``engine.trust.fold``: look-alike letters, zero-width and bidi characters, fullwidth forms undone).
    """
    from engine.trust import fold

    match = INJECTION_RE.search(_norm(text)) or INJECTION_RE.search(_norm(fold(text)))
    return match.group(0) if match else None


def _number(word_text: str) -> int | None:
    """Digits or number words ("20", "twenty", "a dozen", "two hundred and fifty")."""
    digits = re.search(r"\b(\d{1,7})\b", word_text)
    if digits:
        return int(digits.group(1))
    total, current, seen = 0, 0, False
    for word in re.findall(r"[a-z]+", word_text):
        if word in NUMBER_WORDS and not (word in ("a", "an") and seen):
            value = NUMBER_WORDS[word]
            seen = True
            if word == "hundred":
                current = max(current, 1) * 100
            elif word == "thousand":
                total += max(current, 1) * 1000
                current = 0
            elif word in ("a", "an"):
                current = max(current, 1)
            elif word in ("dozen", "couple") and current:
                current *= value
            else:
                current += value
        elif seen and word not in ("and", "of"):
            break
    total += current
    return total or None


def _count(text: str) -> int | None:
    """A number of pairs in a provisioning request (account ids, regions and durations don't count)."""
    scrubbed = ACCOUNT_RE.sub(" ", INSTANCE_RE.sub(" ", text))
    scrubbed = re.sub(r"\b[a-z]+-[a-z]+-[a-z0-9]+\b", " ", scrubbed)
    return _number(scrubbed)


def _minutes(text: str) -> int | None:
    match = DURATION_RE.search(text)
    if match is None:
        if re.search(r"\b(till|until) (tomorrow|morning)\b|\bovernight\b", text):
            return 12 * 60
        return None
    amount, unit = match.group(1), match.group(2)
    if amount.startswith("half"):
        value = 0.5
    else:
        value = float(_number(amount) or 1)
    scale = 1 if unit.startswith("m") else 60 if unit.startswith("h") else 1440
    return max(1, int(value * scale))


def _parts(text: str) -> Iterable[str]:
    """Split a compound request; a comma or "and" splits only where a new request (a verb) starts."""
    for sentence in SPLIT_RE.split(text):
        chunks: list[str] = []
        tokens = re.split(r"(,|\band\b(?= ))", sentence)
        sep = ","
        for index, token in enumerate(tokens):
            if index % 2:
                sep = token
                continue
            piece = token.strip(" .")
            if chunks and not ACTION_START.match(piece):
                if piece:
                    chunks[-1] = f"{chunks[-1]}{',' if sep == ',' else ' and'} {piece}"
            elif piece:
                chunks.append(piece)
        for chunk in chunks:
            chunk = re.sub(r"^(and|also|please)\s+", "", chunk.strip(" ,."))
            if chunk:
                yield chunk


def apply_exclusions(intents: list[Intent], excluded: Iterable[str]) -> list[Intent]:
    """Mark mutating calls with the providers to leave alone; drop calls aimed only at them.

    A selector that names a provider (or a region, or explicit ids) already
    says where to act: an excluded provider there means the call is dropped,
    anything else is left as is.  Only broad selectors carry ``exclude``.
    """
    skip = tuple(dict.fromkeys(p for p in excluded if p))
    if not skip:
        return intents
    out: list[Intent] = []
    for intent in intents:
        if not isinstance(intent, ToolIntent) or intent.tool not in SELECTOR_TOOLS:
            if isinstance(intent, ToolIntent) and intent.tool == "provision_pairs":
                named = [
                    p
                    for p in (
                        intent.args.get("standby_provider"),
                        intent.args.get("primary_provider") if "region" in intent.args else None,
                    )
                    if p in skip
                ]
                if named:
                    out.append(
                        UnknownIntent(
                            f"provision on {named[0]}",
                            (f"forget {named[0]}",),
                            reason=f"You asked me to leave {named[0]} alone, so I won't put new pairs there; "
                            f'say "forget {named[0]}" first if you mean it.',
                        )
                    )
                else:
                    out.append(_provision_avoiding(intent, skip))
            else:
                out.append(intent)
            continue
        selector = intent.args.get("selector") or {}
        provider = selector.get("provider")
        region = selector.get("region")
        if region in REGIONS:
            provider = provider or REGIONS[region].provider.value
        if provider in skip:
            out.append(
                UnknownIntent(
                    f"{intent.tool} on {provider}",
                    (f"forget {provider}",),
                    reason=f"You asked me to leave {provider} alone, so I won't {intent.tool.replace('_', ' ')} there; "
                    f'say "forget {provider}" first if you mean it.',
                )
            )
            continue
        if provider or selector.get("accounts") or selector.get("instances"):
            out.append(intent)
        else:
            out.append(ToolIntent(intent.tool, intent.args, tuple(dict.fromkeys((*intent.exclude, *skip)))))
    return out


def left_alone(ctx: BrainContext, reading: Sequence[Intent]) -> tuple[str, ...]:
    """The providers a turn must leave alone, whoever proposes its calls: remembered ones, and those the words of
    this very message exclude ("…, leave Contabo alone", "restart everything degraded except contabo").

    A model cannot say an exclusion in a selector (the contract has no such key), so the engine applies these to
    every call the model proposes in the turn, as the offline brain applies them to its own.
    """
    said = [
        str(i.data.get("provider")) for i in reading if isinstance(i, RememberIntent) and i.kind == "exclude_provider"
    ]
    said += [p for i in reading if isinstance(i, ToolIntent) for p in i.exclude]
    return tuple(dict.fromkeys((*ctx.excluded_providers, *said)))


def _provision_avoiding(intent: ToolIntent, skip: tuple[str, ...]) -> ToolIntent:
    """New pairs never go to a provider the operator wants left alone (primary or standby)."""
    args = dict(intent.args)
    if args.get("primary_provider") in skip and "region" not in args:
        order = {"us": ("vultr", "digitalocean", "hetzner"), "ap": ("vultr", "digitalocean", "hetzner")}
        for provider in order.get(str(args.get("geo")), ("hetzner", "digitalocean", "vultr")):
            if provider not in skip:
                args["primary_provider"] = provider
                break
    if "standby_provider" not in args:
        # Pin the standby too, so the placement defaults cannot pick a provider the operator excluded.
        for provider in ("digitalocean", "vultr", "hetzner"):
            if provider not in skip and provider != args.get("primary_provider"):
                args["standby_provider"] = provider
                break
    return ToolIntent(intent.tool, args, intent.exclude)


class OfflineBrain:
    """Deterministic language → intents.  Stateless: the conversation holds context."""

    name = "offline"

    def understand(self, message: str, context: BrainContext | None = None) -> list[Intent]:
        ctx = context or BrainContext()
        raw = door_normalize(message).strip()
        prepared = prepare(message, known=_lexicon(), extra_vocabulary=())
        text = prepared.text
        if not text:
            return [UnknownIntent("", SUGGESTIONS)]
        if len(text) > MAX_MESSAGE_CHARS:
            return [
                UnknownIntent(
                    text[:80] + "…",
                    ("fleet status",),
                    reason=(
                        f"That message is {len(text):,} characters long; send one request at a time, under "
                        f"{MAX_MESSAGE_CHARS:,} characters, and I'll get on it."
                    ),
                )
            ]
        marker = INJECTION_RE.search(text) or INJECTION_RE.search(_norm(raw))
        if marker:
            return [SuspectIntent(raw[:300], marker.group(0))]  # stored as typed (normalised), not lower-cased
        short = _bare(text)
        named = CONFIRM_ID_RE.match(short)
        if named:
            return [ConfirmIntent(named.group(1))]
        if short in CONFIRM:
            return [ConfirmIntent()]
        if short in CANCEL:
            return [CancelIntent()]
        if short in HELP or re.match(r"^help\b", short) or re.match(r"^help me\b.*\bwhat can (?:you|u) do\b", short):
            return [HelpIntent()]
        text = resolve_references(text, ctx)
        followed = follow_up(text, ctx, _unexplained)
        if followed is not None:
            return _with_notes(apply_exclusions(followed, ctx.excluded_providers), prepared)
        vouched = bool(PRESSURE_RE.search(text))
        text = PRESSURE_RE.sub(" ", text).strip(" ,.")
        intents: list[Intent] = []
        excluded: list[str] = []
        previous: dict[str, str] = {}
        local = ctx
        for whole in _parts(text):
            split = _JOINED_PROVIDERS_RE.search(whole)
            if split and PROVISION_RE.search(whole) and not re.search(r"\b(primar|standb|backup|second)", whole):
                # "provision 10 pairs on hetzner and DO": one pair spans two providers, so this has two readings.
                first, second = re.findall(rf"\b{_PROVIDER_ALT}\b", split.group(0))[:2]
                count = _count(whole) or "the"
                intents.append(
                    ClarifyIntent(
                        question=(
                            f"Do you mean {count} pairs with primaries on {first} and standbys on {second}, or "
                            f"{count} pairs on each? Nothing was planned yet."
                        ),
                        understood=f"provision {count} pairs on {first} and {second}",
                        readings=(
                            f"provision {count} pairs, {first} primary, {second} standby",
                            f"provision {count} pairs on {first}, then provision {count} pairs on {second}",
                        ),
                    )
                )
                continue
            for part in _distribute(whole):
                part_excluded = [PROVIDER_WORDS[m.group(1)] for m in EXCEPT_RE.finditer(part)]
                stripped = EXCEPT_RE.sub(" ", part).strip(" ,.")
                stripped = re.sub(r"^(but|and|please|also)\b|\b(but|alone|out of it)$", "", stripped).strip(" ,.")
                if part_excluded and not stripped:
                    for provider in part_excluded:
                        intents.append(
                            RememberIntent("exclude_provider", f"leave {provider} alone", {"provider": provider})
                        )
                    excluded += part_excluded
                    continue
                if PROVISION_RE.search(stripped):
                    stripped = LABEL_PHRASE_RE.sub(" ", stripped).strip(
                        " ,."
                    )  # the label is a name, not a word to read
                found = self._checked(stripped, self._one(stripped, raw, local), local)
                local = _carry(local, found)
                here = _filters(stripped)
                if previous and not here and not WIDE_RE.search(stripped):
                    # A clause that names no place of its own inherits the previous one's (UNDERSTANDING.md, step 3):
                    # "Hetzner Nuremberg looks down. How exposed are we?" asks about Nuremberg, once.
                    found = [
                        ToolIntent(i.tool, {**_only(previous, ("provider", "region")), **i.args})
                        if isinstance(i, ToolIntent) and i.tool == "provider_health"
                        else i
                        for i in found
                    ]
                previous = here or previous
                found = [i for i in found if not intents or i != intents[-1]]
                if part_excluded:
                    found = apply_exclusions(found, part_excluded)
                intents.extend(found)
        intents = apply_exclusions(intents, [*ctx.excluded_providers, *excluded])
        if (
            ctx.pending
            and AMEND_START.search(text)
            and not any(isinstance(i, ToolIntent) and is_mutating_tool(i.tool) for i in intents)
        ):
            # The operator tried to change the pending plan and we could not read the change: withdraw it.
            return [
                ClarifyIntent(
                    question=(
                        f"I couldn't tell how you want to change plan {ctx.pending.get('id', '')}, so I withdrew "
                        'it and changed nothing. What should I do instead — e.g. "restart the degraded ones '
                        'on vultr"?'
                    ),
                    understood="a change to the pending plan",
                    unknown_words=_unexplained(text),
                    withdraws=True,
                )
            ]
        if ctx.pending and ADDITIVE_RE.search(text):
            intents = [
                dataclasses.replace(i, adds=True)
                if isinstance(i, ToolIntent) and is_mutating_tool(i.tool) and not i.replaces
                else i
                for i in intents
            ]
        if vouched:
            intents = [
                dataclasses.replace(i, purpose="vouched", note=VOUCHED_NOTE)
                if isinstance(i, ToolIntent) and is_mutating_tool(i.tool)
                else i
                for i in intents
            ]
        label = _label(raw)
        if label:
            intents = [
                dataclasses.replace(i, args={**i.args, "label": label})
                if isinstance(i, ToolIntent) and i.tool == "provision_pairs"
                else i
                for i in intents
            ]
        intents = [_fit_to_tool(i) for i in intents]
        return _with_notes(intents or [UnknownIntent(text, SUGGESTIONS)], prepared)

    def _checked(self, text: str, found: list[Intent], ctx: BrainContext) -> list[Intent]:
        """The ask-back rule for one clause: an action verb never ends as a plain read; unknown words are asked."""
        verb = _action_verb(text)
        mutating = [i for i in found if isinstance(i, ToolIntent) and is_mutating_tool(i.tool)]
        if mutating:
            parts = NOT_INSTANCES_RE.findall(text)
            if parts and mutating[0].tool in ("teardown", "restart", "resize", "failover"):
                # "delete the logs on acct-042": the object is a part of an instance, not the instance.
                first = mutating[0]
                return [
                    ClarifyIntent(
                        question=(
                            f"I can't act on {_quoted(parts)} alone: I {first.tool.replace('_', ' ')} whole "
                            f"instances. Did you mean {describe(first.tool, first.args)} — or something else "
                            '("diagnose acct-042" reads its logs)? I changed nothing.'
                        ),
                        understood=describe(first.tool, first.args),
                        readings=(describe(first.tool, first.args),),
                        unknown_words=tuple(parts),
                    )
                ]
            # Words the operator gave as a free-text value (a silence's reason, a label) are theirs, not to understand.
            given = [str(i.args[k]) for i in mutating for k in FREE_TEXT_ARGS if isinstance(i.args.get(k), str)]
            unknown = _unexplained(_without(text, given))
            if unknown:
                first = mutating[0]
                return [
                    ClarifyIntent(
                        question=(
                            f"I understood {describe(first.tool, first.args)}, but not "
                            f"{_quoted(unknown)}. Is that what you mean, or something else?"
                        ),
                        understood=describe(first.tool, first.args),
                        readings=(describe(first.tool, first.args),),
                        unknown_words=unknown,
                    )
                ]
            return found
        if (
            verb
            and not QUESTION_START.match(text)
            and all(isinstance(i, ToolIntent) or isinstance(i, UnknownIntent) and not i.reason for i in found)
        ):
            if any(isinstance(i, ToolIntent) and i.tool not in ("fleet_status", "instance_inspect") for i in found):
                return found  # a read the verb asked for ("kick off a health sweep", "push the briefing")
            return [_verb_question(text, verb)]
        reads = [i for i in found if isinstance(i, ToolIntent)]
        unknown = _unexplained(text) if reads else ()
        if unknown:
            # A read is harmless, so it is answered; the words it could not place are still named.
            first = reads[0]
            said = (
                f"(I don't know {_quoted(unknown)}, so this answer leaves {'it' if len(unknown) == 1 else 'them'}"
                " out; name a provider, region, state or account if you meant one.)"
            )
            found = [
                dataclasses.replace(i, note=" ".join(filter(None, [i.note, said]))) if i is first else i for i in found
            ]
        return found

    # ------------------------------------------------------------------ one request
    def _one(self, text: str, raw: str, ctx: BrainContext) -> list[Intent]:
        memory = self._memory(text)
        if memory is not None:
            return [memory]
        accounts, instances = _ids(text)
        filters = _filters(text)
        job = JOB_ID_RE.search(text)
        if STOP_JOB_RE.search(text):
            # Stopping is the operator's own call (the conversation never takes it from a model).
            named = job.group(1) if job else ctx.last_job
            return [ToolIntent("job_stop", {"job_id": named} if named else {})]
        if job:
            return [ToolIntent("job_status", {"job_id": job.group(1)})]
        if SWEEP_RE.search(text):
            return [ToolIntent("guardian_sweep", {})]  # Guardian's sweep on demand
        if JOBS_LIST_RE.search(text) and not PROVISION_RE.search(text) and not (filters or accounts or instances):
            return [ToolIntent("job_status", {})]  # "what's running?", "list jobs": the running and recent ones
        if ctx.last_job and JOB_WORDS_RE.search(text) and not PROVISION_RE.search(text):
            return [ToolIntent("job_status", {"job_id": ctx.last_job})]
        if AUDIT_RE.search(text) or _since(text) and HAPPENED_RE.search(text):
            return [self._audit(text, accounts, instances)]
        if SILENCE_RE.search(text) and re.search(
            r"\b(alerts?|alarms?|pages?|notifications?|warnings?)\b|"
            r"^(silence|mute|snooze)",
            text,
        ):
            return [self._silence(text, accounts, instances, filters, ctx)]
        if (
            CONFIG_RE.search(text)
            and CONFIG_VERB_RE.search(text)
            or re.search(r"\bconfig[_ ]push\b", text)
            or SET_RE.match(text)
            and _target_tier(text) is None
            or CONFIG_VERB_RE.search(text)
            and re.search(r"\b[a-z_][a-z0-9_.]*\s*=\s*\S", text)
        ):
            return [self._config_push(raw, text, accounts, instances, filters, ctx)]
        if FAILOVER_RE.search(text):
            # Failover always promotes standbys: "to its standby" says how, not which instances.
            return [
                self._selector_tool(
                    "failover",
                    text,
                    accounts,
                    instances,
                    {k: v for k, v in filters.items() if (k, v) != ("role", "standby")},
                    {},
                    ctx,
                )
            ]
        if TEARDOWN_RE.search(text):
            # "tear down" is a verb here, not the state "down".
            archive = not NO_ARCHIVE_RE.search(text)
            filters = _filters(NO_ARCHIVE_RE.sub(" ", TEARDOWN_RE.sub(" ", text)))
            extra: dict[str, object] = {} if archive else {"archive": False}
            return [self._selector_tool("teardown", text, accounts, instances, filters, extra, ctx)]
        if RESTART_RE.search(text):
            return [self._restart(text, accounts, instances, filters, ctx)]
        if RESIZE_RE.search(text):
            resized = self._resize(text, accounts, instances, filters, ctx)
            if resized is not None:
                return [resized]
        if (
            PROVISION_RE.search(text)
            and (PROVISION_NOUN_RE.search(text) or _count(text))
            or NEED_RE.search(text)
            and PROVISION_NOUN_RE.search(text)
            and _count(text)
        ):
            return [self._provision(text, filters)]
        if BRIEFING_RE.search(text):
            return [ToolIntent("briefing", {"kind": "weekly" if re.search(r"\bweek(ly)?\b", text) else "daily"})]
        if PROVIDER_HEALTH_RE.search(text):
            place = _only(filters, ("provider", "region"))
            if not place and IMPACT_RE.search(text) and ctx.last_filters and not WIDE_RE.search(text):
                # Exposure is always exposure *to* something: the place the conversation is about.
                place = _only(ctx.last_filters, ("provider", "region"))
            return [ToolIntent("provider_health", place)]
        if COST_RE.search(text) and not (accounts or instances):
            return [self._cost(text)]
        if DIAGNOSE_RE.search(text):
            target = instances or accounts or ([ctx.last_target] if ctx.last_target and PRONOUN_RE.search(text) else [])
            if target:
                return [ToolIntent("instance_diagnose", {"target": target[0]})]
            if filters:
                # "why are vultr gateways degraded?": the incident questions, answered from data.
                out: list[Intent] = []
                if filters.get("provider") or filters.get("region"):
                    out.append(ToolIntent("provider_health", _only(filters, ("provider", "region"))))
                out.append(ToolIntent("fleet_status", {**filters, "state": filters.get("state", "DEGRADED")}))
                return out
        typo = _typo_verb(text)
        if typo is not None:
            return [self._unknown(text, raw, ctx)]
        if (accounts or instances) and (INSPECT_RE.search(text) or len(_words(text)) <= 4 or STATUS_RE.search(text)):
            return [ToolIntent("instance_inspect", {"target": (instances or accounts)[0]})]
        if (
            ctx.last_filters is not None
            and filters
            and (
                re.match(r"^(and|what about|how about|same for)\b", text)
                or re.match(r"^(and|what about|how about|same for)\b", _norm(raw))
                and re.match(r"^(in|on|for)\b", text)
            )
        ):
            return [ToolIntent("fleet_status", {**ctx.last_filters, **filters})]
        if ctx.last_filters is not None and PRONOUN_RE.search(text) and re.search(r"\b(show|list|which)\b", text):
            return [ToolIntent("fleet_status", dict(ctx.last_filters))]
        if STATUS_RE.search(text) or filters:
            return [ToolIntent("fleet_status", filters)]
        return [self._unknown(text, raw, ctx)]

    def _memory(self, text: str) -> Intent | None:
        if re.search(
            r"\b(what do you (remember|know about me)|my preferences|show (my )?(memories|preferences)|"
            r"what have you (remembered|learned)|list (my )?memories)\b",
            text,
        ):
            return RecallIntent()
        forget = re.match(
            r"^(?:please )?(?:forget|stop remembering|unremember)(?: about)?(?: that)?(?: the)?\s*(.*)$", text
        )
        if forget:
            about = forget.group(1).strip(" .")
            about = "" if about in ("everything", "all", "it all", "all of it") else about
            return ForgetIntent(re.sub(r"\b(alone|preference|rule|memory)\b", "", about).strip())
        touch = re.match(rf"^(?:you can|it'?s ok to|feel free to) (?:touch|use) {PROVIDER_ALT}(?: again)?$", text)
        if touch:
            return ForgetIntent(PROVIDER_WORDS[touch.group(1)])
        remember = re.match(r"^(?:please )?remember(?: that)? (.+)$", text)
        if remember:
            return RememberIntent("note", remember.group(1).strip(" ."))
        from engine.brain._briefing_prefs import briefing_schedule_args  # briefing time, zone, days, channels

        schedule = briefing_schedule_args(text)
        if schedule is not None:
            return ToolIntent("briefing_schedule", schedule)
        return None

    def _audit(self, text: str, accounts: list[str], instances: list[str]) -> Intent:
        args: dict[str, object] = {}
        if instances or accounts:
            args["target"] = (instances or accounts)[0]
        for agent in AGENT_WORDS:
            if re.search(rf"\b{agent}\b", text):
                args["actor"] = agent
                break
        for word, action in AUDIT_ACTIONS.items():
            if re.search(rf"\b{word}", text):
                args["action"] = action
                break
        since = _since(text)
        if since:
            args["since"] = since
        limit = re.search(
            r"\b(?:last|latest|recent) (\d{1,4}|[a-z]+)\b(?! (?:hours?|days?|weeks?|minutes?|mins?|"
            r"hrs?|night))",
            text,
        )
        if limit and _number(limit.group(1)) and not since:
            args["limit"] = _number(limit.group(1))
        return ToolIntent("audit_query", args)

    def _selector(
        self, text: str, accounts: list[str], instances: list[str], filters: dict[str, str], ctx: BrainContext
    ) -> dict[str, Any]:
        selector: dict[str, Any] = dict(filters)
        for pattern, finding in FINDING_WORDS:
            if pattern.search(text):
                selector["finding"] = finding
                break
        if "finding" not in selector and ctx.findings:
            for match in THE_N_RE.finditer(text):
                number = _number(match.group(1))
                hits = [f for f, n in ctx.findings.items() if number is not None and n == number]
                if hits:
                    selector["finding"] = hits[0]
                    break
        if accounts:
            selector["accounts"] = accounts
        if instances:
            selector["instances"] = instances
        if not selector and PRONOUN_RE.search(text):
            if ctx.last_filters:
                selector.update(ctx.last_filters)
            elif ctx.last_target:
                key = "instances" if ctx.last_target.startswith("i-") else "accounts"
                selector[key] = [ctx.last_target]
        return selector

    def _selector_tool(
        self,
        tool: str,
        text: str,
        accounts: list[str],
        instances: list[str],
        filters: dict[str, str],
        extra: dict[str, object],
        ctx: BrainContext,
    ) -> Intent:
        selector = self._selector(text, accounts, instances, filters, ctx)
        if not selector:
            return UnknownIntent(text, (f"{tool} acct-042", f"{tool} everything in eu-hetzner-nbg1"))
        return ToolIntent(tool, {"selector": selector, **extra})

    def _restart(
        self, text: str, accounts: list[str], instances: list[str], filters: dict[str, str], ctx: BrainContext
    ) -> Intent:
        if "docker" in text:
            component = "docker"
        elif re.search(r"\b(reboot\w*|power[- ]?cycl\w*|vps|servers?|machines?|box|boxes|hosts?)\b", text):
            component = "vps"
        else:
            component = "gateway"
        selector = self._selector(text, accounts, instances, filters, ctx)
        if not selector and not re.search(r"\b(everything|all|every|whole|entire|everyone)\b", text):
            return UnknownIntent(text, ("restart everything degraded on vultr", "restart the gateway on acct-042"))
        return ToolIntent("restart", {"selector": selector, "component": component})

    def _resize(
        self, text: str, accounts: list[str], instances: list[str], filters: dict[str, str], ctx: BrainContext
    ) -> Intent | None:
        tier = _target_tier(text)
        down, up = DOWN_RE.search(text), UP_RE.search(text)
        if tier is None and not (down or up):
            return None
        if tier:
            filters = {k: v for k, v in filters.items() if not (k == "tier" and v == tier)}
        selector = self._selector(text, accounts, instances, filters, ctx)
        if (
            "finding" not in selector
            and down
            and (PRONOUN_RE.search(text) or THE_N_RE.search(text))
            and ("oversized" in ctx.findings or not ctx.findings)
            and not (accounts or instances or filters)
        ):
            # "downsize the 18" right after Ledger's findings: the oversized ones (the only finding you downsize).
            selector["finding"] = "oversized"
        if tier is None:
            finding = selector.get("finding")
            if down:
                # Ledger's "oversized" means "fits nano"; otherwise step down one tier.
                tier = ctx.finding_tiers.get(str(finding)) or (
                    "nano" if finding == "oversized" or selector.get("tier") == "standard" else "standard"
                )
            else:
                tier = "performance"
        if not selector:
            return UnknownIntent(text, ("downsize the oversized ones", "resize acct-042 to performance"))
        return ToolIntent("resize", {"selector": selector, "tier": tier})

    def _provision(self, text: str, filters: dict[str, str]) -> Intent:
        count = _count(text)
        if count is None:
            return UnknownIntent(text, ("provision 20 standard pairs in the EU, Hetzner primary",))
        tier = filters.get("tier")
        if tier is None:
            loose = re.search(r"\b(cheap|cheapest|small|smallest|tiny|budget|large|big|beefy|medium)\b", text)
            tier = TIER_WORDS[loose.group(1)] if loose else "standard"
        args: dict[str, object] = {"count": count, "tier": tier}
        assumed = (
            []
            if filters.get("tier")
            or re.search(
                r"\b(cheap|cheapest|small|smallest|tiny|budget|large|big|"
                r"beefy|medium)\b",
                text,
            )
            else [f"{tier} tier"]
        )
        primary = re.search(rf"\b{PROVIDER_ALT} (?:as (?:the )?)?primar", text) or re.search(
            rf"\bprimar\w* (?:on |at |in |with |=|: ?)?{PROVIDER_ALT}\b", text
        )
        standby = re.search(rf"\b{PROVIDER_ALT} (?:as (?:the )?)?(?:standby|backup|secondary)", text) or re.search(
            rf"\b(?:standb\w*|backups?|secondar\w*|fail ?over to) (?:on |at |in |with |=|: ?)?"
            rf"{PROVIDER_ALT}\b",
            text,
        )
        if primary:
            args["primary_provider"] = PROVIDER_WORDS[primary.group(1)]
        elif "provider" in filters and not (standby and PROVIDER_WORDS[standby.group(1)] == filters["provider"]):
            args["primary_provider"] = filters["provider"]
        if standby:
            args["standby_provider"] = PROVIDER_WORDS[standby.group(1)]
        if "region" in filters:
            args["region"] = filters["region"]
            args.setdefault("primary_provider", REGIONS[filters["region"]].provider.value)
        geo = filters.get("geo") or ("eu" if "region" not in filters else None)
        if geo:
            args["geo"] = geo
            if not filters.get("geo"):
                assumed.append("in the EU")
        if "primary_provider" not in args:
            args["primary_provider"] = {"eu": "hetzner", "us": "vultr", "ap": "vultr"}.get(str(geo), "hetzner")
            assumed.append(f"primaries on {args['primary_provider']}")
        label = re.search(r"\b(?:label(?:led)?|tag(?:ged)?|called|named|for) [\"']([^\"']{1,80})[\"']", text)
        if label:
            args["label"] = label.group(1)
        note = (
            f'Assumed: {", ".join(assumed)} — say so if you want otherwise (e.g. "make it performance").'
            if assumed
            else ""
        )
        return ToolIntent("provision_pairs", args, note=note)

    def _cost(self, text: str) -> Intent:
        period = "week" if re.search(r"\b(week|weekly|7 days|seven days)\b", text) else "month"
        if FORECAST_RE.search(text):
            kind = "forecast"
        elif WASTE_RE.search(text):
            kind = "waste"
        else:
            kind = "report"
        return ToolIntent("cost_analysis", {"kind": kind, "period": period})

    def _silence(
        self, text: str, accounts: list[str], instances: list[str], filters: dict[str, str], ctx: BrainContext
    ) -> Intent:
        scrubbed = DURATION_RE.sub(" ", text)
        selector = self._selector(text, accounts, instances, _filters(scrubbed), ctx)
        args: dict[str, Any] = {"selector": selector, "minutes": _minutes(text) or 60}
        reason = _silence_reason(scrubbed)
        if reason:
            args["reason"] = reason
        if not selector and not re.search(r"\b(everything|all|every|whole|entire|fleet)\b", text):
            return UnknownIntent(text, ("silence alerts on vultr for 30 minutes", "mute acct-042 for an hour"))
        return ToolIntent("silence_alerts", args)

    def _config_push(
        self, raw: str, text: str, accounts: list[str], instances: list[str], filters: dict[str, str], ctx: BrainContext
    ) -> Intent:
        parsed, _spans = parse_config(raw)
        if not parsed:
            return UnknownIntent(
                text,
                ("push config log_level=debug to vultr", "set the log level to info on everything in batches of 50"),
            )
        config, problem = check_config(parsed, ctx.url_allowlist)
        if problem is not None:
            return ClarifyIntent(
                question=f"{problem.message} Nothing was planned.",
                understood="a config push",
                unknown_words=problem.words,
            )
        scrubbed = re.sub(r"\{.*\}", " ", text)
        scrubbed = re.sub(r"https?://\S+", " ", scrubbed)
        scrubbed = re.sub(r"\b[a-z_][a-z0-9_.]*\s*[=:]\s*[^\s,;]+", " ", scrubbed)
        scrubbed = re.sub(r"\bset (?:the )?[a-z_][a-z0-9_. ]{1,40}? (?:to|=) [^\s,;]+", " ", scrubbed)
        selector = self._selector(scrubbed, accounts, instances, _filters(scrubbed), ctx)
        args: dict[str, Any] = {"selector": selector, "config": config}
        batch = re.search(r"\bbatch(?:es)?(?: size)? of (\d+)|\b(\d+) at a time\b|\bbatch[_ ]size[= ](\d+)", text)
        if batch:
            args["batch_size"] = int(next(g for g in batch.groups() if g))
        if not selector and not re.search(r"\b(everything|all|every|whole|entire|fleet)\b", scrubbed):
            return ClarifyIntent(
                question=(
                    f"Push {', '.join(f'{k}={v}' for k, v in config.items())} to which instances — everything, "
                    'one provider ("on vultr") or some accounts? Nothing was planned.'
                ),
                understood="a config push",
                readings=("to everything", "on vultr", "to acct-042"),
            )
        return ToolIntent("config_push", args)

    def _unknown(self, text: str, raw: str, ctx: BrainContext) -> Intent:
        """Honest: say what we did not get and offer the nearest thing we can do."""
        words = _words(text)
        fixed = [
            (difflib.get_close_matches(w, VOCABULARY, n=1, cutoff=0.75) or [w])[0] if len(w) > 3 else w for w in words
        ]
        if fixed != words:
            corrected = " ".join(fixed)
            guess = self._one(corrected, corrected, ctx) if corrected != text else []
            if guess and isinstance(guess[0], ToolIntent):
                return UnknownIntent(text, (corrected, *SUGGESTIONS[:2]))
        return UnknownIntent(text, SUGGESTIONS)


def _carry(ctx: BrainContext, found: list[Intent]) -> BrainContext:
    """Within one message, "it"/"them"/"their" in a later request mean the targets of the earlier one."""
    for intent in found:
        if not isinstance(intent, ToolIntent):
            continue
        if intent.tool == "fleet_status":
            ctx = dataclasses.replace(ctx, last_filters=dict(intent.args))
        elif intent.tool in ("instance_inspect", "instance_diagnose"):
            ctx = dataclasses.replace(ctx, last_target=str(intent.args.get("target")))
        elif isinstance(intent.args.get("selector"), dict):
            selector = dict(intent.args["selector"])
            ids = (selector.get("instances") or []) + (selector.get("accounts") or [])
            if len(ids) == 1:
                ctx = dataclasses.replace(ctx, last_target=str(ids[0]))
            elif selector and not ids:
                ctx = dataclasses.replace(ctx, last_filters=selector)
    return ctx


def _typo_verb(text: str) -> str | None:
    """A misspelt action verb ("restrat", "provison"): better to ask than to answer something else."""
    for word in _words(text):
        if len(word) > 4 and word not in _KNOWN_WORDS:
            close = difflib.get_close_matches(word, ACTION_VERBS, n=1, cutoff=0.75)
            if close:
                return close[0]
    return None


def _only(filters: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in filters.items() if k in keys}


def _target_tier(text: str) -> str | None:
    match = re.search(
        r"\b(?:to|into|onto|down to|up to)\s+(?:the\s+)?(nano|standard|performance|perf|cheap|cheapest|"
        r"small|smallest|tiny|budget|large|big|medium|regular|beefy)\b",
        text,
    )
    return TIER_WORDS[match.group(1)] if match else None


def describe_state(state: str) -> str:
    return InstanceState(state).value


# ---------------------------------------------------------------------------------------------- understanding

_PROVIDER_ALT = r"(hetzner|vultr|digitalocean|contabo|hostinger)"
_JOINED_PROVIDERS_RE = re.compile(
    rf"\b{_PROVIDER_ALT}((?:\s*(?:,|\band\b|&|\bor\b|/|\bplus\b|\+)\s*(?:(?:on|in|at) )?{_PROVIDER_ALT}\b)+)"
)
_REGION_WORDS = sorted({*CITY_WORDS, *(r for r in REGIONS if "-sim-" not in r)}, key=len, reverse=True)
_REGION_ALT = "(" + "|".join(re.escape(w) for w in _REGION_WORDS) + ")"
_JOINED_REGIONS_RE = re.compile(
    rf"\b{_REGION_ALT}((?:\s*(?:,|\band\b|&|\bor\b|/|\bplus\b|\+)\s*(?:(?:on|in|at) )?{_REGION_ALT}\b)+)"
)
NOT_INSTANCES_RE = re.compile(
    r"\b(logs?|log files?|files?|data|cache|caches|backups?|snapshots?|images?|volumes?|disks?|keys?|"
    r"certificates?|certs?|processes|process|containers?|sessions?|tokens?|history|records?|tmp|temp files|"
    r"database|db|queues?|jobs?|alerts?|users? data|emails?|messages?)\b"
)
"""Parts of an instance a teardown, restart, resize or failover never acts on by themselves."""
HAPPENED_RE = re.compile(r"\b(happen\w*|did|do|done|changed?|going on|went on|been up to|up to)\b")
_SINCE_UNITS = {"minute": "m", "min": "m", "hour": "h", "hr": "h", "day": "d", "week": "w"}


def _since(text: str) -> str | None:
    """A relative time in the operator's words ("since Friday", "overnight", "in the last 24 hours")."""
    span = re.search(
        r"\b(?:in |over |during )?the (?:last|past) (\d{1,4}|[a-z]+(?:[- ][a-z]+)?) "
        r"(minute|min|hour|hr|day|week)s?\b",
        text,
    )
    if span:
        number = _number(span.group(1))
        if number:
            return f"{number}{_SINCE_UNITS[span.group(2)]}"
    named = re.search(
        r"\b(overnight|last night|yesterday|today|this morning|this week|(?:the |this )?weekend|"
        r"(?:since |on )(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
        r"the last hour|past hour)\b",
        text,
    )
    if named:
        word = re.sub(r"^(?:since|on) ", "", named.group(1))
        return {"weekend": "the weekend", "this weekend": "the weekend", "past hour": "the last hour"}.get(word, word)
    return None


CONFIRM_ID_RE = re.compile(
    r"^(?:go|yes|confirm|approve|do it|run|ok go|go ahead|yes go)(?: with)?(?: plan)? "
    r"(pl-[0-9a-f]{4,32})$"
)
PRESSURE_RE = re.compile(
    r",?\s*\b(?:don'?t worry|no worries|relax|trust me|believe me|i promise|i'?ve checked(?: them| it| that)?"
    r"(?: myself| already)?|i checked(?: them| it)?(?: myself| already)?|no need to (?:check|ask|worry)|"
    r"it'?s (?:all )?(?:safe|fine)|(?:their|the|its|all|they'?re|they are|those|these)(?: [a-z]+)?"
    r"(?: are| is|'re)?(?: all)? (?:fine|ok|okay|healthy|safe|good|backed up|redundant))\b[^,.;]*"
)
VOUCHED_NOTE = (
    "You vouched for its safety; I can't check that claim, so this plan states its full scope and "
    "runs only when you confirm it by its id."
)
QUESTION_START = re.compile(
    r"^(?:what|who|why|how|when|which|where|is|are|was|were|did|do you|does|can you tell|"
    r"could you tell|have|has)\b"
)
MUTATING_VERB_RE = re.compile(
    r"\b(restart|reboot|bounce|kick|power[- ]?cycle|tear ?down|teardown|delete|destroy|kill|nuke|remove|"
    r"decommission|wipe|resize|downsize|upsize|upgrade|downgrade|shrink|scale|migrate|move|fix|repair|heal|"
    r"clean ?up|clean|shut ?down|shut|stop|start|deploy|provision|create|spin up|launch|fail ?over|failover|"
    r"promote|push|roll ?out|apply|silence|mute|snooze|patch|roll ?back|rollback|sort out|kill off|terminate|"
    r"cancel the servers|drain|rebuild|reinstall|reset|swap|replace|transfer)\b"
)
_FILLER_START = re.compile(
    r"^(?:(?:ok|okay|yes|yeah|yep|yup|sure|alright|right|great|cool|fine|actually|nah|no|"
    r"hmm+|oh|well|hold on|wait|please|then|so)\s+)+"
)
_NEGATIVE_START = re.compile(r"^(?:no|nah|wait|hold on|hmm+|actually)\b")
_FILLER_END = re.compile(r"(?:\s+(?:please|now|then|thanks|thank you|mate|already))+$")


def _bare(text: str) -> str:
    """A short reply without its fillers: "yup, do it" → "do it"; "hold on, don't" → "don't"."""
    flat = re.sub(r"\s+", " ", re.sub(r"[,!?.;]+", " ", text)).strip()
    if flat in CONFIRM or flat in CANCEL:
        return flat
    core = _FILLER_END.sub("", _FILLER_START.sub("", flat)).strip()
    if not core:
        return flat
    if core in CONFIRM and _NEGATIVE_START.match(flat):
        return flat  # "no, go …" / "wait, yes" is not a plain go
    return core


def _distribute(part: str) -> list[str]:
    """One clause naming several providers or regions ("on hetzner and DO") → one clause per target."""
    if EXCEPT_RE.search(part) or (PROVISION_RE.search(part) and re.search(r"\b(primar|standb|backup|second)", part)):
        return [part]
    for joined, alt in ((_JOINED_PROVIDERS_RE, _PROVIDER_ALT), (_JOINED_REGIONS_RE, _REGION_ALT)):
        match = joined.search(part)
        if match:
            values = list(dict.fromkeys(re.findall(rf"\b{alt}\b", match.group(0))))
            if len(values) > 1:
                return [part[: match.start()] + value + part[match.end() :] for value in values]
    return [part]


def is_mutating_tool(tool: str) -> bool:
    spec = _TOOL_SPECS.get(tool)
    return spec is not None and spec.kind == "mutate"


def _action_verb(text: str) -> str | None:
    match = MUTATING_VERB_RE.search(text)
    if match is None or re.search(r"\bupdate me\b|\bkick ?off\b", text):
        return None
    return match.group(1)


def _verb_question(text: str, verb: str) -> ClarifyIntent:
    """The question back for an action verb whose targets or meaning could not be placed."""
    unknown = _unexplained(text)
    filters = _filters(text)
    accounts, instances = _ids(text)
    scope = ", ".join([*filters.values(), *accounts, *instances]) or "nothing I could place"
    missing = "which instances" if not (filters or accounts or instances) else "what exactly to do"
    words = f" I don't know {_quoted(unknown)}." if unknown else ""
    return ClarifyIntent(
        question=(
            f"You asked me to {verb} ({scope}), but I couldn't tell {missing}.{words} "
            f'Did you mean e.g. "{verb} everything degraded on vultr" or "{verb} acct-042"? '
            "I changed nothing."
        ),
        understood=f"{verb} {scope}",
        readings=(f"{verb} everything degraded on vultr", f"{verb} acct-042"),
        unknown_words=unknown,
    )


def ask_back(message: str, reading: Sequence[Intent]) -> ClarifyIntent | None:
    """The question back owed when these words asked for an action and no action was proposed; None otherwise.

    The ask-back rule for *any* brain: a model that answers an action request with no tool call, or with a
    read-only status dump, is not taken at its word — the turn becomes this question, built from the offline
    reading of the same words (``reading``), exactly as the offline brain would have asked.  A question or a read
    ("what's degraded?") owes nothing: a read is its answer.
    """
    questions = [i for i in reading if isinstance(i, ClarifyIntent)]
    if questions:
        return ClarifyIntent(
            " ".join(q.question for q in questions),
            understood="; ".join(q.understood for q in questions),
            readings=tuple(r for q in questions for r in q.readings),
            unknown_words=tuple(w for q in questions for w in q.unknown_words),
            withdraws=any(q.withdraws for q in questions),
        )
    actions = [i for i in reading if isinstance(i, ToolIntent) and is_mutating_tool(i.tool)]
    if actions:
        said = "; then ".join(describe(a.tool, a.args) for a in actions)
        return ClarifyIntent(
            question=(
                f"Before I plan anything: do you want me to {said}? Nothing was planned yet; say it in those "
                "words and I'll plan it for your go."
            ),
            understood=said,
            readings=tuple(describe(a.tool, a.args) for a in actions),
        )
    reads = [i for i in reading if isinstance(i, ToolIntent)]
    if any(i.tool not in ("fleet_status", "instance_inspect") for i in reads):
        return None  # the words asked for that read ("kick off a health sweep", "audit trail for failovers")
    text = prepare(message, known=_lexicon(), extra_vocabulary=()).text
    verb = _action_verb(text)
    if verb and not QUESTION_START.match(text):
        return _verb_question(text, verb)
    typo = _typo_verb(text) if not reads else None
    if typo is not None:
        hint = next((s for i in reading if isinstance(i, UnknownIntent) for s in i.suggestions), f"{typo} acct-042")
        return ClarifyIntent(
            question=f'I didn\'t understand "{text[:60]}" — did you mean "{hint}"? I changed nothing.',
            understood=typo,
            readings=(hint,),
        )
    return None


def answers_offline(message: str, intents: Sequence[Intent]) -> bool:
    """Whether a turn is answered by the offline reading even when a model is configured.

    The operator's own "go", "cancel" and "stop that" (never a model's call), a suspected injection, an
    over-long message, bookkeeping (memory, help), and follow-ups read against the dialogue state (an amendment
    of the pending plan, a withdrawal, "what did that save us?", a plan asked for with an assurance): the same
    code answers them whichever brain is configured, so plans are confirmed, amended and withdrawn identically.
    """
    operator_only = len(message) > MAX_MESSAGE_CHARS or any(
        isinstance(i, (ConfirmIntent, CancelIntent, SuspectIntent))
        or isinstance(i, ToolIntent)
        and i.tool == "job_stop"
        for i in intents
    )
    bookkeeping = all(
        isinstance(
            i, (ConfirmIntent, CancelIntent, SuspectIntent, RememberIntent, ForgetIntent, HelpIntent, RecallIntent)
        )
        for i in intents
    )
    followup = any(
        isinstance(i, ToolIntent) and (i.replaces or i.purpose) or isinstance(i, ClarifyIntent) and i.withdraws
        for i in intents
    )
    return operator_only or bookkeeping or followup


REASON_NOUNS = (
    r"maintenance|upgrades?|migrations?|deploy\w*|investigation|incidents?|testing|outages?|work|"
    r"patch\w*|rollouts?|releases?|reboots?|drills?|debugging|cut ?over"
)
"""What a silence is usually *for*: the nouns a reason is built around."""
_REASON_LEAD = r"because(?: of)?|due to|reason:?|cause|cuz|for|during|while|since|as|bc"
_REASON_LEAD_RE = re.compile(rf"^(?:(?:{_REASON_LEAD})\s+)+")
_REASON_AFTER_WORD_RE = re.compile(rf"\b(?:{_REASON_LEAD})\s+(?P<r>(?:[a-z0-9'-]+\s+){{0,6}}?(?:{REASON_NOUNS})\b.*)$")
_REASON_BECAUSE_RE = re.compile(r"\b(?:because(?: of)?|due to|reason:?)\s+(?P<r>.+)$")
_REASON_SET_OFF_RE = re.compile(rf"(?:[,;:(—–]|\s-\s)\s*(?P<r>[^,;:()—–]*\b(?:{REASON_NOUNS})\b[^,;()—–]*)")
_REASON_TRAILING_RE = re.compile(rf"(?P<r>(?:[a-z0-9'-]+\s+){{0,3}}(?:{REASON_NOUNS}))\s*[.!]*$")
_NOT_REASON_WORDS = frozenset(
    {
        "alerts",
        "alert",
        "alarms",
        "alarm",
        "pages",
        "notifications",
        "warnings",
        "on",
        "in",
        "at",
        "to",
        "of",
        "the",
        "for",
        "and",
        "please",
        "silence",
        "mute",
        "snooze",
        "quiet",
    }
)


FREE_TEXT_ARGS = ("reason", "label")
"""Arguments whose value is the operator's own free text."""


def _without(text: str, values: Iterable[str]) -> str:
    """``text`` with the given phrases blanked out."""
    for value in values:
        if value:
            text = text.replace(value.lower(), " ")
    return text


def _silence_reason(text: str) -> str | None:
    """Why alerts are silenced, however it is said: "because of X", "during X", "for the X", set off by a comma,
    dash or colon ("…, kernel upgrade"), or trailing the request ("mute vultr 2h kernel upgrade")."""
    for pattern in (_REASON_BECAUSE_RE, _REASON_AFTER_WORD_RE, _REASON_SET_OFF_RE):
        match = pattern.search(text)
        if match:
            # "for an hour during the maintenance window": the reason starts after its last lead word.
            return _REASON_LEAD_RE.sub("", match.group("r")).strip(" .!-") or None
    trailing = _REASON_TRAILING_RE.search(text)
    if trailing is None:
        return None
    words = trailing.group("r").split()
    while words[:-1] and (words[0] in _NOT_REASON_WORDS or _filters(words[0]) or _ids(words[0]) != ([], [])):
        words = words[1:]  # a target or a filler word, not part of the reason
    return " ".join(words) or None


def _quoted(words: Iterable[str]) -> str:
    items = [f'"{w}"' for w in words]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _stems(word: str) -> list[str]:
    stems = [word]
    for suffix, repl in (
        ("'s", ""),
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
        ("er", ""),
        ("d", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stems.append(word[: -len(suffix)] + repl)
    return stems


def _unexplained(text: str) -> tuple[str, ...]:
    """Words of ``text`` that no recogniser, lexicon entry or everyday English explains (named when asking)."""
    scrubbed = re.sub(r"https?://\S+|\"[^\"]*\"|'[^']*'|\b[a-z_][a-z0-9_.]*\s*[=:]\s*\S+", " ", text)
    scrubbed = re.sub(r"\bset (?:the )?[a-z_][a-z0-9_. ]{1,40}? (?:to|=) \S+", " ", scrubbed)
    out: list[str] = []
    scrubbed = re.sub(r"\b(?:i-acct|acct|pl|job)-[a-z0-9-]+|\b[a-z]{2}-[a-z]+-[a-z0-9]+\b", " ", scrubbed)
    for word in re.findall(r"[a-z][a-z0-9']*", scrubbed):
        word = word.strip("'")
        if len(word) <= 2 or any(ch.isdigit() for ch in word):
            continue
        if any(s in _lexicon() or s in COMMON_WORDS for s in _stems(word)):
            continue
        out.append(word)
    return tuple(dict.fromkeys(out))


def _scope(selector: dict[str, Any]) -> str:
    if not selector:
        return "every instance"
    parts: list[str] = []
    for key in ("state", "tier", "role"):
        if selector.get(key):
            parts.append(str(selector[key]).lower() + ("" if key != "role" else "s"))
    if selector.get("finding"):
        parts.append(f"{selector['finding'].replace('_', ' ')} instances")
    where = []
    if selector.get("provider"):
        where.append(f"on {selector['provider']}")
    if selector.get("region"):
        where.append(f"in {selector['region']}")
    if selector.get("geo"):
        where.append(f"in the {str(selector['geo']).upper()}")
    ids = [*(selector.get("accounts") or []), *(selector.get("instances") or [])]
    if ids:
        where.append(", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else ""))
    head = " ".join(parts) or ("the instances" if where else "every instance")
    if parts and not selector.get("finding") and "role" not in selector:
        head += " instances"
    return " ".join([head, *where])


def describe(tool: str, args: dict[str, Any]) -> str:
    """A tool call in the operator's words ("restart the gateway on degraded instances on vultr")."""
    selector = dict(args.get("selector") or {})
    if tool == "restart":
        return f"restart the {args.get('component', 'gateway')} on {_scope(selector)}"
    if tool == "teardown":
        return f"tear down {_scope(selector)}" + ("" if args.get("archive", True) else " without archiving")
    if tool == "resize":
        return f"resize {_scope(selector)} to {args.get('tier')}"
    if tool == "failover":
        return f"fail over {_scope(selector)} to their standbys"
    if tool == "config_push":
        config = ", ".join(f"{k}={v}" for k, v in dict(args.get("config") or {}).items())
        return f"push {config} to {_scope(selector)}"
    if tool == "silence_alerts":
        return f"silence alerts on {_scope(selector)} for {args.get('minutes')} minutes"
    if tool == "provision_pairs":
        where = args.get("region") or f"the {str(args.get('geo', 'eu')).upper()}"
        return f"provision {args.get('count')} {args.get('tier')} pairs in {where}"
    return tool.replace("_", " ")


CONVERSATION_ARGS = {"audit_query": {"since"}}
"""Slots the conversation reads itself before calling the tool ("since Friday" becomes a time filter)."""


def _fit_to_tool(intent: Intent) -> Intent:
    """A call keeps only the arguments its tool takes (its own definition); what was dropped is said."""
    if not isinstance(intent, ToolIntent) or intent.tool not in _TOOL_SPECS:
        return intent
    allowed = set(_TOOL_SPECS[intent.tool].args) | CONVERSATION_ARGS.get(intent.tool, set())
    dropped = [k for k in intent.args if k not in allowed]
    if not dropped:
        return intent
    args = {k: v for k, v in intent.args.items() if k in allowed}
    note = " ".join(
        filter(
            None,
            [intent.note, f"(Counted across primaries and standbys: this view can't split by {', '.join(dropped)}.)"],
        )
    )
    return dataclasses.replace(intent, args=args, note=note)


def _with_notes(intents: list[Intent], prepared: Prepared) -> list[Intent]:
    """Say what was corrected at the door ("read 'hetnzer' as hetzner") with the first answer."""
    if not prepared.corrections:
        return intents
    said = "(Read " + ", ".join(f'"{typed}" as {fixed}' for typed, fixed in prepared.corrections) + ".)"
    out: list[Intent] = []
    done = False
    for intent in intents:
        if not done and isinstance(intent, ToolIntent):
            intent = dataclasses.replace(intent, note=" ".join(filter(None, [intent.note, said])))
            done = True
        elif not done and isinstance(intent, ClarifyIntent):
            intent = dataclasses.replace(intent, question=f"{intent.question} {said}")
            done = True
        out.append(intent)
    return out


def _literal_words(module: Any) -> set[str]:
    """Words of a module's recognisers: its regular expressions and its word tables (not its prose)."""
    import ast
    import inspect

    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):  # installed without sources: the tables below still explain the fleet's words
        return set()
    texts: list[str] = []

    def strings(node: ast.AST) -> None:
        texts.extend(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))

    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
        ):
            strings(node.args[0])
        elif isinstance(node, (ast.Dict, ast.Set, ast.Tuple, ast.List)):
            for element in [*getattr(node, "keys", []), *getattr(node, "elts", [])]:
                if isinstance(element, ast.Constant) and isinstance(element.value, str) and len(element.value) <= 40:
                    texts.append(element.value)
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.JoinedStr)):
            strings(node.value) if any(ch in ast.unparse(node.value) for ch in "(|") else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "split":
            strings(node.func.value)  # word lists written as one string, split
    words: set[str] = set()
    for text in texts:
        for word, optional in re.findall(r"([a-z]{2,})(\?)?", re.sub(r"\\[a-zA-Z]", " ", text)):
            words.add(word)
            if optional:
                words.add(word[:-1])  # "mins?" explains "min" as well as "mins"
    return words


@functools.cache
def _lexicon() -> frozenset[str]:
    """Every word a recogniser or lexicon entry of the brain explains (read from their own patterns and tables).

    Read on first use, not at import: parsing the recognisers' sources costs ~0.3 s of CPU, which every process
    importing the engine (each daemon, CLI and test worker) paid whether or not it ever read a message.
    """
    import sys

    own = sys.modules[__name__]
    words = set().union(*(_literal_words(m) for m in (own, _dialogue, _config_schema, _entities)))
    for module in (own, _dialogue, _entities):  # the module-level patterns, also without sources
        for value in vars(module).values():
            if isinstance(value, re.Pattern):
                words.update(re.findall(r"[a-z]{2,}", re.sub(r"\\[a-zA-Z]", " ", str(value.pattern))))
    for phrase in (*CITY_WORDS, *REGIONS, *FLEET_VOCABULARY):
        words.update(re.findall(r"[a-z]+", phrase))
    words.update(DOMAIN_WORDS)
    return frozenset(words)


DOMAIN_WORDS = frozenset(
    """
instance instances server servers vps box boxes machine machines node nodes gateway gateways pair pairs account
accounts user users customer customers tenant tenants fleet region regions provider providers zone zones tier
tiers plan plans job jobs alert alerts alarm alarms config configuration setting settings value values batch
batches rolling health healthy unhealthy state states status primary primaries standby standbys replica replicas
droplet droplets cloud hosting host hosts datacenter datacentre dc eu us ap companion label labelled tagged
new extra more additional fresh spare docker container containers service services process minutes hours days
minute hour day percent currency euro euros dollar dollars usd eur money month monthly week weekly year
""".split()
)
