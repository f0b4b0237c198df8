"""Follow-ups as operations on the dialogue state: amend, repeat with a change, refer, retract, undo, fix by number.

The conversation keeps, per session, the pending plan's frame (tool, args, id), the last action frame, the
last list shown and Ledger's numbered findings (:class:`~engine.brain.BrainContext`).  A follow-up is read
against that state here, before the message is read as a fresh request:

- **amend** the pending plan: narrow ("only the vultr ones"), widen ("all the vultr ones actually"), change a
  count ("make it 5 not 20") or a tier ("make it performance instead") — always a *new* plan that replaces the
  pending one, so policy is checked again on the new scope;
- **repeat** the last action with one slot changed ("same for vultr");
- **refer** to the last list ("restart the second one") or target ("show me that one");
- **undo** the last reversible action (resize back, failover back, config back; a teardown cannot be undone);
- **fix by number** ("fix 1 and 3") from Ledger's numbered findings;
- **savings**: "what did that save us?" reads the last action's plans, not a new scan.

When the operator clearly tried to change the pending plan but the change is not understood, the answer is a
question that withdraws the plan (``ClarifyIntent(withdraws=True)``): never a silent keep, never a confirm.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from engine.brain._entities import filters as read_filters
from engine.brain._entities import ids as read_ids
from engine.brain._intents import BrainContext, ClarifyIntent, Intent, ToolIntent, UnknownIntent
from engine.brain._lexicon import to_number

__all__ = ["AMEND_START", "follow_up", "resolve_references"]

AMEND_START = re.compile(
    r"^(?:(?:no|nah|wait|hmm+|actually|ok|okay|sorry|oh|but|hold on|scratch that)[,.!]?\s+)*"
    r"(?:only|just|make it|make that|change it to|change that to|instead|rather|not\b|exclude|without|"
    r"(?:do )?all (?:of )?the|all of them|everything on|all\b|.*\binstead$|.*\bnot \d+$|.*\bactually$)"
)
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
    "5th": 5,
}
_ORDINAL_RE = re.compile(
    r"\b(?:the )?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|"
    r"3rd|4th|5th|last)(?: one| instance| account| item)?\b"
)
_THAT_ONE_RE = re.compile(r"\b(?:that|this) one\b|\bthat (?:account|instance|box|server)\b")
_UNDO_RE = re.compile(
    r"^(?:please |ok |okay |actually |oops,? )*(?:undo|revert|reverse|roll ?back|roll (?:that|it) back|put "
    r"(?:it|that|them) back|take (?:that|it) back|change (?:it|that|them) back)(?: (?:that|it|this|the last (?:one|change|action|thing)|"
    r"what you (?:just )?did|please))*[.!]*$"
)
_SAVINGS_RE = re.compile(
    r"\b(?:what|how much)\b.*\b(?:did|does|will|would) (?:that|this|it|the fix|those|these)\b.*"
    r"\bsav\w*|\bhow much (?:did|have) we sav\w*|\bwhat did we save\b|\bsavings? from (?:that|it)\b"
)
_FIX_RE = re.compile(
    r"^(?:(?:please|ok|okay|then|now|and|also|so|right|great|good|cool),? )*(?:let'?s )?"
    r"(?:fix|do|apply|action|handle|take care of|go with|go ahead with|act on|sort out) (?P<refs>.+?)"
    r"(?: (?:please|too|as well|now|then))*[.!]*$"
)
"""A fix by number: the verb, then references to Ledger's numbered findings (read by :func:`_finding_numbers`)."""
_FIX_MORE_RE = re.compile(
    r"^(?:(?:and|also|now|then|plus|next|what about|how about|same for|same with)\s+)+(?P<refs>.+?)"
    r"(?: (?:too|as well|please|now))*[.!?]*$|^(?P<refs2>.+?) (?:too|as well)[.!]*$"
)
"""More of the same fix, after one ("fix 1" … "and 3 too"): the verb is the one just used."""
_NUMBER_WORDS = {
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
}
_REF_FILLER_RE = re.compile(
    r"\b(?:the|findings?|numbers?|items?|no\.?|nr\.?|ones|of them|them|those|"
    r"on the list|from the list)\b|#|(?<=st) one\b|(?<=nd) one\b|(?<=rd) one\b|(?<=th) one\b"
)
_REF_SPLIT_RE = re.compile(r"\s*(?:,|&|\+|/|\band then\b|\bthen\b|\band\b|\bplus\b|\s)\s*")
_SAME_RE = re.compile(
    r"^(?:ok |okay |now |and |then |great,? |good,? )*(?:do |repeat )?(?:the )?same(?: thing)?"
    r"(?: again)?(?: for| on| in| with| at)? (.+)$|^(?:now |and |ok )*(?:do )?(?:the )?same "
    r"(?:thing )?(?:for|on|in|with) (.+)$|^(?:now )?(?:and |ok )?(?:also |too )?do (?:the same|it|"
    r"that) (?:for|on|in) (.+)$"
)
_COUNT_RE = re.compile(
    r"\b(?:make (?:it|that)|change (?:it|that) to|only|just)\s+(\d{1,5}|[a-z]+(?:[- ][a-z]+)?)\b|"
    r"^(\d{1,5}) (?:instead|then|pairs? instead)\b"
)
_TIERS = {
    "nano": "nano",
    "standard": "standard",
    "performance": "performance",
    "cheap": "nano",
    "small": "nano",
    "tiny": "nano",
    "big": "performance",
    "large": "performance",
    "medium": "standard",
}
_TIER_RE = re.compile(
    r"\b(?:make (?:it|that|them)|change (?:it|that) to|go|use|to)\s+(?:the )?(nano|standard|"
    r"performance|cheap|small|tiny|big|large|medium)\b|\b(nano|standard|performance)\s+instead\b"
)
_WIDEN_RE = re.compile(r"\b(?:all (?:of )?(?:the|them)|all\b|everything|every one|whole)\b")
_SELECTOR_TOOLS = frozenset({"teardown", "resize", "restart", "failover", "config_push", "silence_alerts"})

Unexplained = Callable[[str], tuple[str, ...]]
"""The words of a text no recogniser of the brain explains (named when a change cannot be read).  The whole
lexicon is assembled by the offline brain from every recogniser, this module's included, so it is passed in."""


def _withdraw(ctx: BrainContext, text: str, unknown: tuple[str, ...] = ()) -> ClarifyIntent:
    pending = ctx.pending or {}
    words = f" (I don't know {', '.join(repr(w) for w in unknown)})" if unknown else ""
    return ClarifyIntent(
        question=(
            f"I couldn't tell how you want to change plan {pending.get('id', '')}{words}, so I withdrew it "
            f'and changed nothing. What do you want instead — e.g. "only the vultr ones", "make it 5" or '
            f'"restart everything degraded on vultr"?'
        ),
        understood=f"a change to plan {pending.get('id', '')}",
        unknown_words=unknown,
        withdraws=True,
    )


def _from_to(before: Any, after: Any, form: str) -> str:
    """One change in words: "20 → 5 pairs", or "5 pairs" when the value is what it was."""
    if before is None or before == after:
        return form.format(after)
    return form.format(f"{before} → {after}")


def _amend(text: str, ctx: BrainContext, unknown: Unexplained) -> Intent | None:
    pending = ctx.pending
    if not pending or not AMEND_START.search(text):
        return None
    tool = str(pending.get("tool", ""))
    args: dict[str, Any] = {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(pending.get("args") or {}).items()
    }
    pid = str(pending.get("id", ""))
    filters = read_filters(text)
    tier_match = _TIER_RE.search(text)
    new_tier = _TIERS[(tier_match.group(1) or tier_match.group(2))] if tier_match else None
    count_match = _COUNT_RE.search(text)
    count = None
    if count_match:
        raw = count_match.group(1) or count_match.group(2)
        count = int(raw) if raw.isdigit() else to_number(raw)
    changed: list[str] = []  # each change as "before → after", said with the new plan
    if tool == "provision_pairs":
        if count:
            changed.append(_from_to(args.get("count"), count, "{} pairs"))
            args["count"] = count
        if new_tier:
            changed.append(_from_to(args.get("tier"), new_tier, "tier {}"))
            args["tier"] = new_tier
        for key in ("region", "geo"):
            if filters.get(key):
                was = args.pop("region", None) or args.pop("geo", None)
                args.pop("geo", None)
                args[key] = filters[key]
                changed.append(f"{was} → {filters[key]}" if was else f"in {filters[key]}")
        if filters.get("provider") and not filters.get("region"):
            changed.append(f"primaries on {args.get('primary_provider')} → {filters['provider']}")
            args["primary_provider"] = filters["provider"]
    elif tool in _SELECTOR_TOOLS:
        selector = dict(args.get("selector") or {})
        scope = {k: v for k, v in filters.items() if not (tool == "resize" and k == "tier" and v == new_tier)}
        if scope and _WIDEN_RE.search(text) and not re.search(r"\b(only|just)\b", text):
            selector = dict(scope)  # widened: the new scope replaces the old one (policy is checked again)
            changed.append("widened to everything " + ", ".join(str(v) for v in scope.values()))
        elif scope:
            selector.update(scope)
            changed.append("only " + ", ".join(str(v) for v in scope.values()))
        if new_tier and tool == "resize":
            changed.append(_from_to(args.get("tier"), new_tier, "tier {}"))
            args["tier"] = new_tier
        args["selector"] = selector
    if not changed:
        return _withdraw(ctx, text, unknown(text))
    return ToolIntent(tool, args, replaces=pid, note="; ".join(changed))


def _undo(ctx: BrainContext) -> Intent:
    last = ctx.last_action
    if not last:
        return ClarifyIntent(
            question="There is nothing in this conversation to undo yet. What should I change back?", understood="undo"
        )
    tool = str(last.get("tool"))
    args = dict(last.get("args") or {})
    selector = dict(args.get("selector") or {})
    before = dict(last.get("before") or {})
    if tool == "teardown":
        return UnknownIntent(
            "undo teardown",
            ("provision 1 pair",),
            reason=(
                "A teardown cannot be undone: the servers were deleted at the provider (their data was archived "
                "first). To bring the users back, provision new pairs and restore from the archives."
            ),
        )
    if tool == "resize":
        if before.get("tier"):
            return ToolIntent(
                "resize", {"selector": selector, "tier": before["tier"]}, note=f"Undo: back to {before['tier']}."
            )
        return ClarifyIntent(
            question="Those instances were on different tiers before; which tier should they go "
            "back to (nano, standard or performance)?",
            understood="undo the resize",
            readings=("nano", "standard", "performance"),
        )
    if tool == "failover":
        return ToolIntent(
            "failover", {"selector": selector}, note="Undo: failing back, so the old primaries serve again."
        )
    if tool == "config_push":
        config = dict(args.get("config") or {})
        old = {k: before[k] for k in config if k in before}
        if old and len(old) == len(config):
            return ToolIntent(
                "config_push",
                {**{k: v for k, v in args.items() if k != "config"}, "config": old},
                note="Undo: the previous values.",
            )
        return ClarifyIntent(
            question=f"I don't know what {', '.join(sorted(config))} was before; what should it go back to?",
            understood="undo the config push",
        )
    if tool == "restart":
        return UnknownIntent(
            "undo restart",
            ("fleet status",),
            reason=(
                "A restart leaves nothing to change back: the same instances are running again with the same "
                'settings. Ask "fleet status" to see how they are doing.'
            ),
        )
    if tool == "silence_alerts":
        return UnknownIntent(
            "undo silence",
            ("fleet status",),
            reason=("Silenced alerts come back on their own when the silence ends; there is no early un-silence yet."),
        )
    if tool == "provision_pairs":
        return UnknownIntent(
            "undo provision",
            ("tear down acct-…",),
            reason=(
                'Undoing a provisioning means tearing the new pairs down; name the accounts (e.g. "tear down '
                "acct-151\") and I'll plan it for your go."
            ),
        )
    return ClarifyIntent(question="I can't undo that. What should I change back?", understood="undo")


def _fixed_a_finding(ctx: BrainContext) -> bool:
    """Whether the last action was a fix of one of Ledger's findings (so "and 2 too" means: fix 2 as well)."""
    selector = dict((ctx.last_action or {}).get("args", {}).get("selector") or {})
    return bool(selector.get("finding"))


def _one_number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word)


def _finding_numbers(refs: str, listed: int) -> list[int] | None:
    """The finding numbers a fix names, in the order said: "1 and 3", "#2, #1", "one and three", "1-3", "1 to 3",
    "the first and the last", "the first two", "top 2", "both", "all of them"; None when ``refs`` is not that."""
    text = re.sub(r"\s+", " ", _REF_FILLER_RE.sub(" ", refs.lower())).strip(" .,")
    if not text:
        return None
    if text == "both":
        return list(range(1, min(2, listed) + 1))  # the first two: one-confirmation fixes are listed first
    if re.fullmatch(r"(?:all|every one|everything|all of it|them all|all \w+)", text):
        return list(range(1, listed + 1))
    top = re.fullmatch(r"(?:top|first) (\w+)", text)
    if top and _one_number(top.group(1)):
        return list(range(1, min(int(_one_number(top.group(1)) or 0), listed) + 1))
    numbers: list[int] = []
    text = re.sub(
        r"\b(\w+) ?(?:-|to|through|thru|until) ?(\w+)\b",
        lambda m: (
            " ".join(str(n) for n in range(_one_number(m.group(1)) or 0, (_one_number(m.group(2)) or -1) + 1))
            if _one_number(m.group(1)) and _one_number(m.group(2))
            else m.group(0)
        ),
        text,
    )
    for word in _REF_SPLIT_RE.split(text):
        if not word:
            continue
        number = _one_number(word)
        if number is None and word in (*_ORDINALS, "last"):
            number = listed if word == "last" else _ORDINALS[word]
        if number is None:
            return None  # a word that is no reference: not a fix by number
        numbers.append(number)
    return list(dict.fromkeys(numbers)) or None


def _fix(numbers: list[int], ctx: BrainContext) -> list[Intent]:
    out: list[Intent] = []
    for number in numbers:
        if not 1 <= number <= len(ctx.findings_list):
            listed = len(ctx.findings_list)
            out.append(
                ClarifyIntent(
                    question=f"There {'is' if listed == 1 else 'are'} only {listed} finding{'s' if listed != 1 else ''}"
                    f" (1–{listed}); which one do you mean?",
                    understood=f"fix finding {number}",
                    readings=tuple(f"fix {n}" for n in range(1, listed + 1)),
                )
            )
            continue
        finding = ctx.findings_list[number - 1]
        if finding == "idle":
            out.append(ToolIntent("teardown", {"selector": {"finding": "idle"}}))
        elif finding == "oversized":
            out.append(
                ToolIntent(
                    "resize", {"selector": {"finding": "oversized"}, "tier": ctx.finding_tiers.get("oversized", "nano")}
                )
            )
        else:
            out.append(
                ClarifyIntent(
                    question=(
                        f"Finding {number} ({finding.replace('_', ' ')}) means moving instances to another "
                        "provider: that is a re-provisioning project, not one action. Shall I show which "
                        "instances and providers it means, or fix another finding?"
                    ),
                    understood=f"fix finding {number}",
                    readings=("where are we wasting money?",),
                )
            )
    return out


def _same_for(change: str, ctx: BrainContext) -> Intent | None:
    filters = read_filters(change)
    accounts, instances = read_ids(change)
    last = ctx.last_action
    if ctx.last_was_action and last:
        tool = str(last.get("tool"))
        args = {k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(last.get("args") or {}).items()}
        if tool in _SELECTOR_TOOLS:
            selector = dict(args.get("selector") or {})
            if accounts or instances:
                selector = {k: v for k, v in selector.items() if k not in ("accounts", "instances")}
                if accounts:
                    selector["accounts"] = accounts
                if instances:
                    selector["instances"] = instances
            for key, value in filters.items():
                if key == "provider":
                    selector.pop("region", None)
                if key == "region":
                    selector.pop("provider", None)
                    selector.pop("geo", None)
                selector[key] = value
            if not (filters or accounts or instances):
                return None
            args["selector"] = selector
            return ToolIntent(
                tool, args, note="Same as before, for " + ", ".join([*filters.values(), *accounts, *instances]) + "."
            )
        if tool == "provision_pairs" and filters:
            for key in ("region", "geo"):
                if key in filters:
                    args.pop("region", None)
                    args.pop("geo", None)
                    args[key] = filters[key]
            if "provider" in filters and "region" not in filters:
                args["primary_provider"] = filters["provider"]
            return ToolIntent(tool, args)
    if ctx.last_filters is not None and filters:
        return ToolIntent("fleet_status", {**ctx.last_filters, **filters})
    return None


def resolve_references(text: str, ctx: BrainContext) -> str:
    """ "the second one" → the second id of the last list; "that one" → the last target, in the text itself."""
    if ctx.last_list:

        def ordinal(match: re.Match[str]) -> str:
            word = match.group(1)
            index = len(ctx.last_list) if word == "last" else _ORDINALS[word]
            return ctx.last_list[index - 1] if 1 <= index <= len(ctx.last_list) else match.group(0)

        text = _ORDINAL_RE.sub(ordinal, text)
    if ctx.last_target:
        text = _THAT_ONE_RE.sub(ctx.last_target, text)
    return text


def follow_up(text: str, ctx: BrainContext, unknown: Unexplained) -> list[Intent] | None:
    """The intents for ``text`` read as a follow-up to the dialogue state, or None when it is a fresh request."""
    bare = text.strip(" .!?")
    if _UNDO_RE.match(bare):
        return [_undo(ctx)]
    if _SAVINGS_RE.search(bare):
        last = ctx.last_action or {}
        if last.get("job"):
            return [ToolIntent("job_status", {"job_id": str(last["job"])}, purpose="savings")]
        return [
            ClarifyIntent(
                question="Nothing has run in this conversation yet, so nothing was saved. Shall I "
                'look for waste ("where are we wasting money?")?',
                understood="savings",
            )
        ]
    if ctx.findings_list:
        fix = _FIX_RE.match(bare)
        numbers = _finding_numbers(fix.group("refs"), len(ctx.findings_list)) if fix else None
        more = _FIX_MORE_RE.match(bare) if numbers is None and _fixed_a_finding(ctx) else None
        if more:
            numbers = _finding_numbers(more.group("refs") or more.group("refs2"), len(ctx.findings_list))
        if numbers:
            fixes = _fix(numbers, ctx)
            if more and ctx.pending:  # "fix 1" … "and 2 too": the first fix keeps waiting beside the second
                fixes = [dataclasses.replace(i, adds=True) if isinstance(i, ToolIntent) else i for i in fixes]
            return fixes
    same = _SAME_RE.match(bare)
    if same:
        change = next(g for g in same.groups() if g)
        repeated = _same_for(change, ctx)
        if repeated is not None:
            return [repeated]
    amended = _amend(bare, ctx, unknown)
    if amended is not None:
        return [amended]
    return None
