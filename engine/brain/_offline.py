"""The offline brain, v0: deterministic understanding of operator language.

No model, no network: words → tool calls, the same tool calls the LLM brain
would propose.  v0 covers fleet status in many phrasings, inspecting an
account or instance, restarts with filters, and "go" / "cancel".  Unknown
input gets an honest "I didn't understand" with suggestions, never a guess
that acts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.brain._intents import CancelIntent, ConfirmIntent, HelpIntent, Intent, ToolIntent, UnknownIntent
from engine.domain import REGIONS, InstanceState

MAX_MESSAGE_CHARS = 4000

PROVIDER_WORDS = {
    "hetzner": "hetzner", "htz": "hetzner", "vultr": "vultr", "digitalocean": "digitalocean",
    "digital ocean": "digitalocean", "do": "digitalocean", "contabo": "contabo", "hostinger": "hostinger",
    "sim": "sim",
}
STATE_WORDS = {
    "degraded": "DEGRADED", "unhealthy": "DEGRADED", "sick": "DEGRADED", "failed": "FAILED", "down": "FAILED",
    "dead": "FAILED", "healing": "HEALING", "active": "ACTIVE", "healthy": "ACTIVE", "error": "ERROR",
    "errored": "ERROR", "creating": "CREATING", "bootstrapping": "BOOTSTRAPPING", "requested": "REQUESTED",
    "draining": "DRAINING", "archiving": "ARCHIVING", "promoting": "STANDBY_PROMOTING",
}
GEO_WORDS = {"eu": "eu", "europe": "eu", "european": "eu", "us": "us", "usa": "us", "america": "us",
             "american": "us", "ap": "ap", "asia": "ap", "apac": "ap"}
TIER_WORDS = {"nano": "nano", "cheap": "nano", "smallest": "nano", "small": "nano", "standard": "standard",
              "performance": "performance", "perf": "performance", "large": "performance", "big": "performance"}
ROLE_WORDS = {"primary": "primary", "primaries": "primary", "standby": "standby", "standbys": "standby",
              "standbies": "standby"}
CITY_WORDS: dict[str, list[str]] = {}
for _region in REGIONS.values():
    CITY_WORDS.setdefault(_region.city.lower(), []).append(_region.name)
    CITY_WORDS.setdefault(_region.location.lower(), []).append(_region.name)
CITY_WORDS.setdefault("nuernberg", CITY_WORDS["nuremberg"])
CITY_WORDS.setdefault("nürnberg", CITY_WORDS["nuremberg"])

CONFIRM = {"go", "yes", "y", "confirm", "confirmed", "do it", "proceed", "approve", "approved", "go ahead",
           "yes go", "ok go", "yes please", "ship it", "yes go ahead", "make it so", "go for it"}
CANCEL = {"cancel", "no", "n", "stop", "abort", "never mind", "nevermind", "dont", "don't", "no thanks",
          "scrap that", "forget it"}
HELP = {"help", "?", "what can you do", "commands", "how does this work"}

PROVISION_RE = re.compile(r"\b(provision|spin up|create|launch|deploy|onboard|set up|add)\b")
TEARDOWN_RE = re.compile(r"\b(tear ?down|teardown|decommission|destroy|delete|remove|offboard|kill)\b")
FAILOVER_RE = re.compile(r"\b(fail ?over|promote)\b")
RESIZE_RE = re.compile(r"\b(resize|upsize|downsize|upgrade|downgrade|move)\b")
FINDING_WORDS = {"idle": "idle", "unused": "idle", "oversized": "oversized", "over-sized": "oversized",
                 "overprovisioned": "oversized", "cheaper": "cheaper_elsewhere"}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}
PROVIDER_ALT = r"(hetzner|vultr|digitalocean|digital ocean|do|contabo|hostinger|sim)"
RESTART_RE = re.compile(r"\b(restart|reboot|bounce|kick|power[- ]?cycle|recycle)\w*")
STATUS_RE = re.compile(
    r"\b(status|fleet|overview|how'?s|how is|how are|how many|what'?s|what is|what are|anything|show|list|"
    r"which|count|health|summary|report|degraded|failed|down|problems?|issues?)\b"
)
INSPECT_RE = re.compile(r"\b(show|inspect|details?|look at|tell me about|what about|check|describe|info)\b")
ACCOUNT_RE = re.compile(r"\bacct[- ]?(\d{1,6})\b")
INSTANCE_RE = re.compile(r"\b(i-acct-[a-z0-9-]+)\b")
SPLIT_RE = re.compile(r"\s*(?:;|\.\s+|,?\s+then\s+|,?\s+and then\s+|\n)\s*")
ACTION_START = re.compile(
    r"^(?:and\s+)?(provision|spin|create|launch|restart|reboot|bounce|optimi[sz]e|cut|brief|tear|teardown|"
    r"decommission|delete|remove|fail|failover|promote|resize|downsize|upsize|show|inspect|leave|silence|"
    r"check|what|how|list)\b"
)

SUGGESTIONS = ("fleet status", "what's degraded on hetzner?", "show acct-042", "restart everything degraded on vultr")


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'-]*", text)


def _account_id(digits: str) -> str:
    """``acct-42`` means ``acct-042`` (ids have at least three digits); longer ids are kept as typed."""
    return f"acct-{digits}" if len(digits) >= 3 else f"acct-{int(digits):03d}"


def _filters(text: str) -> dict[str, str]:
    """Providers, regions, geos, tiers, states and roles named anywhere in ``text``."""
    found: dict[str, str] = {}
    words = _words(text)
    padded = f" {' '.join(words)} "
    for phrase, provider in PROVIDER_WORDS.items():
        if f" {phrase} " in padded and not (phrase == "do" and re.search(r"\b(to )?do (it|this|that)\b", text)):
            found.setdefault("provider", provider)
    for word in words:
        if word in REGIONS:
            found["region"] = word
        if word in STATE_WORDS and "state" not in found:
            found["state"] = STATE_WORDS[word]
        if word in GEO_WORDS and "geo" not in found and not (word == "us" and " us " in padded and "in us" not in padded
                                                                and "the us" not in padded):
            found["geo"] = GEO_WORDS[word]
        if word in TIER_WORDS and "tier" not in found and (word not in ("small", "big", "large", "cheap")
                                                            or "tier" in words):
            found["tier"] = TIER_WORDS[word]
        if word in ROLE_WORDS:
            found["role"] = ROLE_WORDS[word]
    if "region" not in found:
        for city, names in CITY_WORDS.items():
            if re.search(rf"\b{re.escape(city)}\b", text):
                wanted = found.get("provider")
                match = [n for n in names if wanted is None or f"-{wanted}-" in n]
                if match:
                    found["region"] = match[0]
                    found.setdefault("provider", REGIONS[match[0]].provider.value)
                    break
    if "region" in found:
        found.pop("geo", None)
    return found


def _ids(text: str) -> tuple[list[str], list[str]]:
    instances = INSTANCE_RE.findall(text)
    scrubbed = INSTANCE_RE.sub(" ", text)
    accounts = [_account_id(d) for d in ACCOUNT_RE.findall(scrubbed)]
    return list(dict.fromkeys(accounts)), list(dict.fromkeys(instances))


class OfflineBrain:
    """Deterministic language → intents.  Stateless: the conversation holds context."""

    name = "offline"

    def understand(self, message: str) -> list[Intent]:
        text = _norm(message)
        if not text:
            return [UnknownIntent("", SUGGESTIONS)]
        if len(text) > MAX_MESSAGE_CHARS:
            return [UnknownIntent(text[:80] + "…", ("send one request at a time, under 4,000 characters",))]
        bare = text.strip(" .!?")
        if bare in CONFIRM:
            return [ConfirmIntent()]
        if bare in CANCEL:
            return [CancelIntent()]
        if bare in HELP or bare.startswith("help"):
            return [HelpIntent()]
        intents: list[Intent] = []
        for part in _parts(text):
            intents.append(self._one(part))
        return intents or [UnknownIntent(text, SUGGESTIONS)]

    def _one(self, text: str) -> Intent:
        accounts, instances = _ids(text)
        filters = _filters(text)
        if FAILOVER_RE.search(text):
            return self._selector_tool("failover", text, accounts, instances, filters, {})
        if TEARDOWN_RE.search(text):
            # "tear down" is a verb here, not the state "down".
            filters = _filters(TEARDOWN_RE.sub(" ", text))
            return self._selector_tool("teardown", text, accounts, instances, filters, {})
        if re.search(r"\b(optimi[sz]e|cut|reduce|save)\b.*\b(costs?|spend|money|bill)\b|\bwast(e|ing)\b", text):
            return ToolIntent("cost_analysis", {"kind": "waste", "period": "month"})
        if RESTART_RE.search(text):
            return self._restart(text, accounts, instances, filters)
        if RESIZE_RE.search(text) and ("tier" in filters or _target_tier(text)):
            tier = _target_tier(text)
            if tier:
                filters = {k: v for k, v in filters.items() if not (k == "tier" and v == tier)}
                return self._selector_tool("resize", text, accounts, instances, filters, {"tier": tier})
        if PROVISION_RE.search(text) and re.search(r"\b(pairs?|accounts?|users?|instances?|gateways?|vps|servers?)\b", text):
            return self._provision(text, filters)
        if (accounts or instances) and (INSPECT_RE.search(text) or len(_words(text)) <= 3):
            return ToolIntent("instance_inspect", {"target": (instances or accounts)[0]})
        if STATUS_RE.search(text) or filters:
            return ToolIntent("fleet_status", filters)
        return UnknownIntent(text, SUGGESTIONS)

    def _provision(self, text: str, filters: dict[str, str]) -> Intent:
        count = _count(text)
        if count is None:
            return UnknownIntent(text, ("provision 20 standard pairs in the EU, Hetzner primary",))
        args: dict[str, object] = {"count": count, "tier": filters.get("tier", "standard")}
        primary = re.search(rf"\b{PROVIDER_ALT} primar", text) or re.search(rf"\bprimar\w* (?:on |at |in )?{PROVIDER_ALT}\b", text)
        standby = re.search(rf"\b{PROVIDER_ALT} standby", text) or re.search(rf"\bstandb\w* (?:on |at |in )?{PROVIDER_ALT}\b", text)
        if primary:
            args["primary_provider"] = PROVIDER_WORDS[primary.group(1)]
        elif "provider" in filters and not standby:
            args["primary_provider"] = filters["provider"]
        if standby:
            args["standby_provider"] = PROVIDER_WORDS[standby.group(1)]
        if "region" in filters:
            args["region"] = filters["region"]
            args.setdefault("primary_provider", REGIONS[filters["region"]].provider.value)
        geo = filters.get("geo") or ("eu" if "region" not in filters else None)
        if geo:
            args["geo"] = geo
        args.setdefault("primary_provider", {"eu": "hetzner", "us": "vultr", "ap": "vultr"}.get(str(geo), "hetzner"))
        return ToolIntent("provision_pairs", args)

    def _selector_tool(self, tool: str, text: str, accounts: list[str], instances: list[str],
                       filters: dict[str, str], extra: dict[str, object]) -> Intent:
        selector: dict[str, object] = dict(filters)
        for word, finding in FINDING_WORDS.items():
            if re.search(rf"\b{word}\b", text):
                selector["finding"] = finding
                break
        if accounts:
            selector["accounts"] = accounts
        if instances:
            selector["instances"] = instances
        if not selector:
            return UnknownIntent(text, (f"{tool} acct-042", f"{tool} everything in eu-hetzner-nbg1"))
        return ToolIntent(tool, {"selector": selector, **extra})

    def _restart(self, text: str, accounts: list[str], instances: list[str], filters: dict[str, str]) -> Intent:
        if "docker" in text:
            component = "docker"
        elif re.search(r"\b(reboot|power[- ]?cycle|vps|server|machine|box|host)\w*", text):
            component = "vps"
        else:
            component = "gateway"
        selector: dict[str, object] = dict(filters)
        if accounts:
            selector["accounts"] = accounts
        if instances:
            selector["instances"] = instances
        if not selector and not re.search(r"\b(everything|all|every|whole|entire)\b", text):
            return UnknownIntent(text, ("restart everything degraded on vultr", "restart the gateway on acct-042"))
        return ToolIntent("restart", {"selector": selector, "component": component})


def _count(text: str) -> int | None:
    """A number of pairs, in digits or words ("20", "twenty", "a dozen", "two hundred")."""
    digits = re.search(r"\b(\d{1,7})\b", ACCOUNT_RE.sub(" ", text))
    if digits:
        return int(digits.group(1))
    total, current, seen = 0, 0, False
    for word in _words(text):
        if word in NUMBER_WORDS and not (word in ("a", "an") and seen):
            value = NUMBER_WORDS[word]
            seen = True
            if word == "hundred":
                current = max(current, 1) * 100
            elif word in ("a", "an"):
                current = max(current, 1)
            else:
                current += value if not (word == "dozen" and current) else current * 11
        elif seen and word not in ("and",):
            break
    total += current
    return total or None


def _target_tier(text: str) -> str | None:
    match = re.search(r"\b(?:to|into|onto)\s+(?:the\s+)?(nano|standard|performance|perf|cheap|small|large|big)\b", text)
    return TIER_WORDS[match.group(1)] if match else None


def _parts(text: str) -> Iterable[str]:
    """Split a compound request; a comma splits only where a new request (a verb) starts."""
    for sentence in SPLIT_RE.split(text):
        chunks: list[str] = []
        for piece in sentence.split(","):
            piece = piece.strip(" .")
            if chunks and not ACTION_START.match(piece):
                chunks[-1] = f"{chunks[-1]}, {piece}"
            elif piece:
                chunks.append(piece)
        for chunk in chunks:
            chunk = re.sub(r"^and\s+", "", chunk.strip(" ,."))
            if chunk:
                yield chunk


def describe_state(state: str) -> str:
    return InstanceState(state).value
