"""The gateway settings a config push may set, and how a message's ``key=value`` pairs are checked.

``config_push`` itself takes any JSON object (ARCHITECTURE §3); the brain reads the operator's words against
this schema so that "push log_levle=debug" is asked back with the nearest valid key instead of sending a
setting no gateway knows, and a value of the wrong type (or an ``http://`` URL, or one off the allow-list) is
refused in one sentence before any plan exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.brain._lexicon import nearest

__all__ = ["CONFIG_SCHEMA", "ConfigKey", "ConfigProblem", "check_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    kind: str  # "bool" | "int" | "enum" | "str" | "url"
    default: Any = None
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    aliases: tuple[str, ...] = ()


CONFIG_SCHEMA: dict[str, ConfigKey] = {
    k.name: k
    for k in (
        ConfigKey(
            "log_level",
            "enum",
            "info",
            ("debug", "info", "warning", "error"),
            aliases=("log level", "logging", "loglevel", "verbosity"),
        ),
        ConfigKey("debug", "bool", False),
        ConfigKey("telemetry", "bool", True),
        ConfigKey("auto_update", "bool", True, aliases=("auto update", "autoupdate")),
        ConfigKey("update_channel", "enum", "stable", ("stable", "beta"), aliases=("update channel", "channel")),
        ConfigKey("gateway_timeout", "int", 60, low=1, high=3600, aliases=("gateway timeout", "timeout")),
        ConfigKey("heartbeat_seconds", "int", 30, low=1, high=3600, aliases=("heartbeat", "heartbeat interval")),
        ConfigKey("max_clients", "int", 100, low=1, high=100_000, aliases=("max clients", "client limit")),
        ConfigKey("max_sessions", "int", 10, low=1, high=10_000, aliases=("max sessions", "session limit")),
        ConfigKey("rate_limit", "int", 60, low=1, high=100_000, aliases=("rate limit",)),
        ConfigKey("gateway_port", "int", 18789, low=1, high=65535, aliases=("gateway port", "port")),
        ConfigKey("tts", "str", "piper", aliases=("text to speech",)),
        ConfigKey("voice", "str", "en_US"),
        ConfigKey("model", "str", ""),
        ConfigKey("motd", "str", "", aliases=("message of the day",)),
        ConfigKey("webhook_url", "url", "", aliases=("webhook url", "webhook")),
        ConfigKey("callback_url", "url", "", aliases=("callback url", "callback")),
    )
}
_ALIASES = {alias: key.name for key in CONFIG_SCHEMA.values() for alias in (key.name.replace("_", " "), *key.aliases)}


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """Why a config push cannot be planned as said; ``words`` are the operator's words the question names."""

    message: str
    words: tuple[str, ...] = ()


def _scalar(value: str) -> Any:
    value = value.strip().strip("\"'")
    lowered = value.lower()
    if lowered in ("true", "on", "yes", "enabled", "enable"):
        return True
    if lowered in ("false", "off", "no", "disabled", "disable"):
        return False
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


_PAIR_RE = re.compile(r"(?<![\w/])([a-z_][a-z0-9_.]*)\s*[=:]\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+?)(?=[\s,;]|$|\.\s)")
_SET_RE = re.compile(
    r"\bset (?:the )?([a-z_][a-z0-9_. ]{1,40}?) (?:to|=) (\"[^\"]*\"|'[^']*'|[^\s,;]+?)(?=[\s,;]|$|\.\s)"
)


def parse_config(raw: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``(config, spans)`` from JSON in the message, ``key=value`` pairs or "set the log level to debug".

    Keys are read on the lower-cased text but values keep the operator's own case (a URL path, a voice
    name); ``spans`` are the matched phrases, so the caller can read the rest of the message (the targets).
    """
    brace = re.search(r"\{.*\}", raw, re.S)
    if brace:
        try:
            loaded = json.loads(brace.group(0))
        except ValueError:
            loaded = None
        if isinstance(loaded, dict) and loaded:
            return loaded, [(brace.group(0), "")]
    config: dict[str, Any] = {}
    spans: list[tuple[str, str]] = []
    # "update the config: a=1": the words "config:"/"settings:" introduce pairs, they are not a key.
    lowered = re.sub(r"\b(?:config(?:uration)?|settings?)\s*:", lambda m: " " * len(m.group(0)), raw.lower())
    for match in _PAIR_RE.finditer(lowered):
        key = match.group(1)
        if key in ("batch", "batch_size", "batches", "http", "https"):
            continue
        value = raw[match.start(2) : match.end(2)].rstrip(".")
        config[key] = _scalar(value)
        spans.append((match.group(0), key))
    if not config:
        for match in _SET_RE.finditer(lowered):
            phrase = match.group(1).strip()
            key = _ALIASES.get(phrase) or re.sub(r"[ .]+", "_", phrase)
            value = raw[match.start(2) : match.end(2)].rstrip(".")
            config[key] = _scalar(value)
            spans.append((match.group(0), key))
    return config, spans


def _https_host(value: str) -> tuple[str, str]:
    parts = urlsplit(value)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def check_config(config: dict[str, Any], url_allowlist: tuple[str, ...]) -> tuple[dict[str, Any], ConfigProblem | None]:
    """The config with each value of its key's type, or the first problem (unknown key, bad value, bad URL)."""
    clean: dict[str, Any] = {}
    for key, value in config.items():
        spec = CONFIG_SCHEMA.get(key)
        if spec is None:
            near = nearest(key, CONFIG_SCHEMA, max_distance=3)
            hint = f" — did you mean {near}?" if near else f"; the settings I know are {', '.join(CONFIG_SCHEMA)}."
            return {}, ConfigProblem(f'There is no gateway setting called "{key}"{hint}', (key, *(near or "",)))
        if spec.kind == "bool" and not isinstance(value, bool):
            return {}, ConfigProblem(f'{key} takes on or off, not "{value}".', (key,))
        if spec.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return {}, ConfigProblem(f'{key} takes a whole number, not "{value}".', (key,))
            if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
                return {}, ConfigProblem(f"{key} must be between {spec.low} and {spec.high}, not {value}.", (key,))
        if spec.kind == "enum":
            text = str(value).lower()
            if text not in spec.choices:
                close = nearest(text, spec.choices)
                hint = f" — did you mean {close}?" if close else ""
                return {}, ConfigProblem(
                    f'{key} is one of {", ".join(spec.choices)}, not "{value}"{hint}', (key, str(value))
                )
            value = text
        if spec.kind == "url":
            scheme, host = _https_host(str(value))
            if scheme != "https" or not host:
                return {}, ConfigProblem(
                    f'{key} must be an https:// URL; "{value}" is not, so I pushed nothing.', (key, "https")
                )
            allowed = [h.lower() for h in url_allowlist]
            if not any(host == h or host.endswith("." + h) for h in allowed):
                where = f"the allowed hosts are {', '.join(allowed)}" if allowed else "no hosts are allowed yet"
                return {}, ConfigProblem(
                    f"{host} is not on the config URL allow-list ({where}; setting "
                    f"config_url_allowlist), so I pushed nothing.",
                    (key, host),
                )
        if spec.kind == "str" and not isinstance(value, str):
            value = str(value)
        clean[key] = value
    return clean, None
