"""A plausible model behind the Messages-API emulator: what the eval's LLM brain talks to instead of Claude.

The eval of the LLM brain must test *our* side — the conversation state handed to the model, the tool schemas
generated from the tools' definitions, the ask-back rule and the plan/confirm/amend/withdraw handling — so the
model stands in for a competent reader of English that knows nothing else.  It works only from what a real model
would receive in one request:

- **the words**: the last operator message (``messages``);
- **the state**: the "Conversation state" section of the system prompt, parsed back from its text (pending plan,
  last action and what it changed from, last list, numbered findings, last fleet view, target and job).  Whatever
  our side leaves out of that section, the model does not know;
- **the tools**: the ``tools`` list.  It calls only tools it was offered, with only the arguments their schemas
  declare and only values their enums allow; a call it cannot express that way it does not make.

Its reading of English is the offline brain's (so a miss here is a miss of our plumbing, not of a weaker
parser), but it behaves like a model, not like our offline path: it answers in ``tool_use`` blocks, then in
words after the ``tool_result``; it ignores the operator's remembered preferences (a forgetful model — the
engine must enforce them); and when it cannot place an action it does what a weak model does — it looks at the
fleet (a read-only status dump) and answers without asking, which the engine must turn into a question back.

It never sees an eval's id or expected answer: the emulator hands it the request body, nothing else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from engine.brain import BrainContext, ClarifyIntent, OfflineBrain, ToolIntent, UnknownIntent
from engine.brain._answers import audit_narrative
from engine.brain.emulator import Scripted, say, use_tools
from engine.operations import ToolOutcome
from engine.replies import outcome_text

__all__ = ["PlausibleModel", "state_from_prompt"]

_STATE_HEAD = "# Conversation state"
_DECODER = json.JSONDecoder()


def _json_after(line: str, label: str) -> Any:
    """The JSON value that follows ``label`` in ``line`` (None when absent or not JSON)."""
    at = line.find(label)
    if at < 0:
        return None
    rest = line[at + len(label) :].lstrip()
    try:
        value, _end = _DECODER.raw_decode(rest)
    except ValueError:
        return None
    return value


def state_from_prompt(system: str) -> BrainContext:
    """The dialogue state as a model can read it from the system prompt's "Conversation state" section."""
    at = system.find(_STATE_HEAD)
    if at < 0:
        return BrainContext()
    section = system[at:].split("\n# ", 1)[0]
    state: dict[str, Any] = {}
    for line in section.splitlines()[1:]:
        line = line.strip()
        pending = re.match(r"^- Pending plan (\S+): (\w+) ", line)
        if pending:
            state["pending"] = {
                "id": pending.group(1),
                "tool": pending.group(2),
                "args": _json_after(line, f"{pending.group(2)} ") or {},
            }
            continue
        action = re.match(r"^- Last action: (\w+) ", line)
        if action:
            frame: dict[str, Any] = {"tool": action.group(1), "args": _json_after(line, f"{action.group(1)} ") or {}}
            before = _json_after(line, ", changed from")
            if isinstance(before, dict):
                frame["before"] = before
            job = re.search(r", job (job-[0-9a-f]+)", line)
            if job:
                frame["job"] = job.group(1)
            state["last_action"] = frame
        elif line.startswith("- The latest answer was that action"):
            state["last_was_action"] = True
        elif line.startswith("- Last fleet view:"):
            state["last_filters"] = _json_after(line, "- Last fleet view:")
        elif line.startswith("- Last account or instance discussed:"):
            state["last_target"] = line.split(":", 1)[1].split("(")[0].strip()
        elif line.startswith("- Last job:"):
            state["last_job"] = line.split(":", 1)[1].split("(")[0].strip()
        elif line.startswith("- Last list shown, in order:"):
            state["last_list"] = tuple(x.strip() for x in line.split(":", 1)[1].split(",") if x.strip())
        elif line.startswith("- Waste findings as numbered:"):
            state["findings_list"] = tuple(re.findall(r"\d+\. ([a-z_]+)", line.split(":", 1)[1]))
        elif line.startswith("- Ledger's last findings"):
            state["findings"] = _json_after(line, "(instances each):") or {}
            state["finding_tiers"] = _json_after(line, "their right tiers:") or {}
        elif line.startswith("- Config URLs may point only at these hosts:"):
            state["url_allowlist"] = tuple(x.strip() for x in line.split(":", 1)[1].split(",") if x.strip())
    return BrainContext(**state)


def _fit(value: Any, schema: dict[str, Any]) -> tuple[Any, bool]:
    """``value`` as this JSON schema allows it: unknown object keys and values off an enum are dropped.

    Returns the fitted value and whether it is still there (a dropped enum value, or an object left with a
    required key missing, is not).
    """
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        return None, False
    if schema.get("type") == "object" and isinstance(value, dict) and "properties" in schema:
        properties = schema["properties"]
        fitted: dict[str, Any] = {}
        for key, item in value.items():
            if key not in properties:
                if schema.get("additionalProperties", True) is False:
                    continue  # the schema has no such argument: a model cannot say it
                fitted[key] = item
                continue
            kept, ok = _fit(item, properties[key])
            if ok:
                fitted[key] = kept
        if any(name not in fitted for name in schema.get("required", ())):
            return fitted, False
        return fitted, True
    if schema.get("type") == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = [v for v, ok in (_fit(item, schema["items"]) for item in value) if ok]
        return items, bool(items) or not value
    return value, True


@dataclass
class PlausibleModel:
    """An emulator responder (``AnthropicEmulator.responder``): request body in, one scripted answer out."""

    requests: int = 0
    looked: int = 0
    """Action requests it could not place and answered with a read-only status dump instead of asking."""
    unexpressed: list[str] = field(default_factory=list)
    """Calls it understood but could not make with the tools it was offered (a schema or allowance gap)."""

    def __post_init__(self) -> None:
        self._reader = OfflineBrain()

    def __call__(self, body: dict[str, Any]) -> Scripted:
        self.requests += 1
        messages = body.get("messages") or []
        last = messages[-1] if messages else {"content": ""}
        results = _tool_results(last.get("content"))
        if results:
            return say(_conclude(results))
        system = body.get("system") or ""
        system = system if isinstance(system, str) else " ".join(str(b.get("text", "")) for b in system)
        tools = {str(t.get("name")): dict(t.get("input_schema") or {}) for t in body.get("tools") or []}
        return self._answer(_text(last.get("content")), state_from_prompt(system), tools)

    def _answer(self, words: str, state: BrainContext, tools: dict[str, dict[str, Any]]) -> Scripted:
        calls: list[tuple[str, dict[str, Any]]] = []
        unsure = False
        said: list[str] = []
        for intent in self._reader.understand(words, state):
            if isinstance(intent, ToolIntent):
                schema = tools.get(intent.tool)
                args, ok = _fit(dict(intent.args), schema) if schema is not None else (None, False)
                if ok and isinstance(args, dict):
                    calls.append((intent.tool, args))
                else:
                    self.unexpressed.append(f"{intent.tool} {json.dumps(intent.args, sort_keys=True)}")
                    unsure = True
            elif isinstance(intent, ClarifyIntent):
                unsure = True
            elif isinstance(intent, UnknownIntent):
                hint = " or ".join(f'"{s}"' for s in intent.suggestions[:2])
                said.append(intent.reason or f"I'm not sure what you mean — did you mean {hint}?")
        if calls:
            return use_tools(*calls)
        if unsure and "fleet_status" in tools:
            # A weak model's habit: unsure what to do, it looks at the fleet and reports, without asking.
            self.looked += 1
            return use_tools(("fleet_status", {}), text="Let me look at the fleet first.")
        return say(" ".join(said) or "Noted.")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _tool_results(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    out = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            try:
                out.append(json.loads(str(block.get("content", ""))))
            except ValueError:
                out.append({"status": "error", "message": str(block.get("content", ""))})
    return out


def _conclude(results: list[dict[str, Any]]) -> str:
    """The model's words after its tools answered: what was planned, refused or found (the data it was given)."""
    lines = []
    for data in results:
        status = str(data.get("status", ""))
        tool = str(data.get("tool", ""))
        if data.get("plan"):
            lines.append(
                "I've drafted that; it waits for your go." if data["plan"].get("status") == "pending" else "Done."
            )
        elif status in ("refused", "error"):
            lines.append(f"That didn't go through: {data.get('message', '')}")
        elif tool == "audit_query":
            lines.append(audit_narrative(list((data.get("result") or {}).get("entries") or [])))
        else:
            raw = data.get("result")
            result: dict[str, Any] = raw if isinstance(raw, dict) else {}
            try:
                lines.append(outcome_text(ToolOutcome(tool, {}, status, result, str(data.get("message", "")))))
            except (KeyError, TypeError, ValueError):
                lines.append("Here is what I found.")
    return "\n".join(line for line in lines if line) or "Done."
