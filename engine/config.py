"""Settings: a TOML file plus ``CLAWOPS_*`` environment variables.

Precedence, highest first: explicit overrides (CLI flags, tests) →
environment → the settings file (``$CLAWOPS_CONFIG_FILE`` or
``$CLAWOPS_HOME/config.toml``) → defaults.  Unknown keys in the file are an
error with a "did you mean" hint, because a silently ignored typo in
``confirm_threshold`` is a safety bug.  Secrets are ``SecretStr`` and never
printed.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from engine.errors import ConfigError

__all__ = ["Settings", "default_home", "load_settings", "unknown_env_warnings"]

log = logging.getLogger("clawops.config")

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

_TOML_FILE: ContextVar[Path | None] = ContextVar("clawops_settings_file", default=None)
"""The settings file :func:`load_settings` is reading, for the source hook below: a context variable, so two
threads or tasks loading different files at once never see each other's (no class attribute to race on)."""


def default_home() -> Path:
    """Where ClawOps keeps its data when ``CLAWOPS_HOME`` is unset (a per-user data dir)."""
    return Path(platformdirs.user_data_dir("clawops", appauthor=False))


class Settings(BaseSettings):
    """Everything the engine can be told.  Each field's docstring is its user documentation."""

    model_config = SettingsConfigDict(env_prefix="CLAWOPS_", extra="forbid", validate_default=True)

    home: Path = Field(default_factory=default_home)
    """Data directory: the SQLite store, reports, archives, secrets key (env ``CLAWOPS_HOME``)."""

    database_url: str | None = None
    """SQLAlchemy URL of the store; default ``sqlite:///$CLAWOPS_HOME/clawops.db``.
    Use ``postgresql+psycopg://user@host/db`` to share one store between engines."""

    audit_anchor: Path | None = None
    """File keeping copies of the audit chain's head *outside* the store (env ``CLAWOPS_AUDIT_ANCHOR``), so whoever
    can rewrite the database cannot also cut the chain unseen; default a per-store file in the user's state
    directory, never beside the store.  ``audit verify`` fails when it is missing or disagrees."""

    operator: str = "owner"
    """The operator this process acts as when no API key names one (a local, single-user install)."""

    confirm_threshold: int = 10
    """Policy rule 5: actions affecting more than this many users need the operator's confirmation.
    Must be between 1 and 10: the rule may be made stricter, never looser."""

    decision_window_minutes: int = 10
    """Rule 5 counts everything one operator set off without a confirmation in this many minutes (kept in
    the store, so across turns, sessions and processes): splitting a big action never avoids the question.
    At least 1 (the window may be made longer, never switched off)."""

    usd_to_eur: float = 0.92
    """Exchange rate used wherever USD prices are added to EUR ones (reports say so)."""

    currency: Literal["USD", "EUR"] = "USD"
    """The currency replies show money in (prices are kept in EUR and converted at ``usd_to_eur``)."""

    plan_ttl_minutes: float = Field(default=5.0, gt=0, le=60)
    """How long a plan waits for the operator's go; it is also withdrawn as soon as the talk moves on."""

    config_url_allowlist: list[str] = Field(default_factory=list)
    """Hosts a config push may point a URL setting at (https only), e.g. ``["hooks.example.com"]``; empty = none."""

    demo: bool = True
    """Seed and run the clearly labelled DEMO fleet on emulated providers when the store is empty."""

    demo_seed: int = 42
    """Seed of the demo fleet generator; the same seed gives the same fleet."""

    demo_pairs: int = 850
    """How many account pairs the demo fleet has."""

    demo_providers: Literal["emulated", "sim"] = "emulated"
    """What serves the demo's provider calls: the real HTTP drivers against local vendor emulators
    (``emulated``, the default), or the tiny in-process simulator (``sim``, for unit tests)."""

    demo_time_scale: float = Field(default=600.0, gt=0, le=100_000)
    """Emulated seconds per real second on the demo's provider emulators: 600 makes a 60-s server create take
    0.1 s; 20 lets you watch a provisioning job's progress for a while."""

    companion_webhook_url: str | None = None
    """Where to POST signed events (e.g. ``pair.active``) for the COMPANION; unset = no webhooks."""

    companion_webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key for webhook signatures (``X-ClawOps-Signature``); required with the URL."""

    anthropic_api_key: SecretStr | None = None
    """Enables the LLM brain; without it the deterministic offline brain answers."""

    anthropic_base_url: str | None = None
    """Where the Messages API is (default: Anthropic's); tests point it at the local emulator."""

    gateway_host: str = "127.0.0.1"
    """Address the node gateway listens on."""

    gateway_port: int = 18789
    """Port of the node gateway (OpenClaw's default)."""

    gateway_token: SecretStr | None = None
    """Shared node token; generated and kept in the secret store when unset."""

    gateway_public_url: str | None = None
    """The address new servers' clawnode dials (``wss://ops.example.com:18789/``), baked into their cloud-init.
    Unset: derived from gateway_host/port, and refused if that is loopback (no VPS can reach it)."""

    openclaw_gateway_url: str | None = None
    """A real OpenClaw gateway whose nodes ClawOps should see (``ws://`` or ``wss://``): the engine connects to it
    as an operator client, follows its nodes and pulls their clawops.health reports.  Unset = none."""

    openclaw_gateway_token: SecretStr | None = None
    """That gateway's shared token (its ``gateway.auth.token``), for the engine's operator link."""

    node_package: str | None = None
    """What cloud-init installs as clawnode: a pip requirement or wheel URL (default: this engine's version)."""

    openclaw_image: str | None = None
    """The OpenClaw gateway container image new servers run (default: the tested upstream release)."""

    gateway_tls_fingerprint: str | None = None
    """SHA-256 fingerprint of the gateway's TLS certificate, pinned by new nodes (for self-signed wss)."""

    node_commands: Literal["gateway", "simulated"] = "gateway"
    """Outside the demo, node commands go to real clawnodes through the node gateway. ``simulated`` answers
    them in-process instead: only for drills against provider emulators, never with real servers."""

    api_host: str = "127.0.0.1"
    """Address ``clawops engine`` serves the operator API on (loopback; put an HTTPS proxy in front)."""

    api_port: int = 8742
    """Port of the operator API (HTTP + WebSocket, ``/metrics``)."""

    engine_url: str | None = None
    """Base URL of a running ``clawops engine`` (e.g. ``http://127.0.0.1:8742``); when set, ``clawops``
    talks to that daemon with ``api_key`` instead of starting an embedded engine."""

    api_key: SecretStr | None = None
    """This operator's API key for ``engine_url`` (env ``CLAWOPS_API_KEY``)."""

    provider_server_limits: dict[str, int] = Field(default_factory=dict)
    """Most servers ClawOps may run on each provider account (the vendor's project or account limit), e.g.
    ``{hetzner = 100, digitalocean = 25}``; placement keeps new pairs within it and says where it skipped.
    A provider not listed has no known limit (its quota errors still steer placement for a few hours)."""

    hetzner_token: SecretStr | None = None
    """API token of a real Hetzner Cloud project (outside the demo; see the README, 'Real providers')."""

    digitalocean_token: SecretStr | None = None
    """API token of a real DigitalOcean account."""

    vultr_token: SecretStr | None = None
    """API key of a real Vultr account."""

    hostinger_token: SecretStr | None = None
    """API token of a real Hostinger account."""

    contabo_client_id: str | None = None
    """Contabo API client id (with the secret, user and password below, from the Contabo customer panel)."""

    contabo_client_secret: SecretStr | None = None
    """Contabo API client secret."""

    contabo_user: str | None = None
    """Contabo API user (the account's e-mail address)."""

    contabo_password: SecretStr | None = None
    """Contabo API password."""

    contabo_auth_url: str | None = None
    """Contabo's OAuth token endpoint (default: Contabo's own); tests point it at the emulator."""

    hetzner_base_url: str | None = None
    """Where the Hetzner driver sends its calls (default: the vendor's API), e.g. ``clawops emulate hetzner``."""

    digitalocean_base_url: str | None = None
    """Where the DigitalOcean driver sends its calls (default: the vendor's API)."""

    vultr_base_url: str | None = None
    """Where the Vultr driver sends its calls (default: the vendor's API)."""

    contabo_base_url: str | None = None
    """Where the Contabo driver sends its calls (default: the vendor's API)."""

    hostinger_base_url: str | None = None
    """Where the Hostinger driver sends its calls (default: the vendor's API)."""

    provider_time_scale: float = Field(default=1.0, gt=0, le=100_000)
    """For drills against provider emulators only: emulated seconds per real second, which shrinks the real
    drivers' retry and polling waits (1 = real time, the only sensible value with real providers)."""

    content_dir: Path | None = None
    """A folder holding your own edited copy of ``agents/`` and ``skills/`` (default: the installed ones)."""

    log: Path | None = None
    """Where the chat client writes full tracebacks of failed turns (default ``$CLAWOPS_HOME/chat.log``)."""

    archive_store: Literal["local", "s3"] = "local"
    """Where teardown keeps each account's export before anything is deleted: ``local`` (a folder,
    ``archive_dir``) or ``s3`` (an S3-compatible bucket: AWS, MinIO, Ceph, Wasabi, Hetzner Object Storage …)."""

    archive_dir: Path | None = None
    """Folder of local archives; default ``$CLAWOPS_HOME/archives``."""

    archive_s3_endpoint_url: str | None = None
    """Endpoint of the S3-compatible service, e.g. ``https://fsn1.your-objectstorage.com``; unset = AWS S3."""

    archive_s3_bucket: str | None = None
    """Bucket the archives go to (it must exist: ClawOps never creates buckets). Required with ``s3``."""

    archive_s3_region: str = "us-east-1"
    """Region the bucket's requests are signed for."""

    archive_s3_prefix: str = "clawops/archives"
    """Key prefix; objects are ``<prefix>/<account>/<instance>/<UTC timestamp>.tar.gz``."""

    archive_s3_access_key_id: SecretStr | None = None
    """S3 access key id.  When unset, the secret store's ``archive/s3-access-key-id`` and
    ``archive/s3-secret-access-key`` are used (``clawops secrets set``), else boto3's own chain (env, profile)."""

    archive_s3_secret_access_key: SecretStr | None = None
    """S3 secret access key (pairs with ``archive_s3_access_key_id``)."""

    telegram_bot_token: SecretStr | None = None
    """The Telegram bot's token from @BotFather; set it and ``clawops engine`` serves the bot (long polling by
    default). Link who may talk to it with ``clawops operator link NAME telegram USER_ID``."""

    telegram_api_base: str = "https://api.telegram.org"
    """Where the Telegram Bot API is; tests and the demo point it at the loopback emulator
    (``python -m engine.channels.telegram_emulator``) or any server speaking the public Bot API."""

    telegram_webhook_url: str | None = None
    """Public HTTPS URL Telegram should POST updates to (your proxy in front of ``/webhook/telegram`` on the
    API port). Unset: long polling (``getUpdates``), which needs no public address. Needs the secret below."""

    telegram_webhook_secret: SecretStr | None = None
    """Secret token Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token`` on every webhook call (1-256 of
    A-Z, a-z, 0-9, _ and -); calls without it are refused with 401."""

    whatsapp_access_token: SecretStr | None = None
    """WhatsApp Cloud API access token (a system user token of your Meta app); with the phone number id and the
    app secret, ``clawops engine`` serves WhatsApp through the webhook ``/webhook/whatsapp`` on the API port."""

    whatsapp_phone_number_id: str | None = None
    """The Cloud API's id of the business phone number that sends and receives (not the number itself)."""

    whatsapp_app_secret: SecretStr | None = None
    """The Meta app secret: every webhook POST must carry its HMAC-SHA256 (``X-Hub-Signature-256``) or is
    refused with 401 before it is read."""

    whatsapp_verify_token: SecretStr | None = None
    """The token you type into Meta's webhook setup; the GET handshake (``hub.verify_token``) must match it."""

    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    """Where the Graph API is, with its version; tests point it at the loopback emulator."""

    voice_stt_model: str | None = None
    """Speech-to-text model: unset or ``tiny.en`` is the one bundled as a package; or a faster-whisper model
    directory (CTranslate2) you installed yourself. Nothing is ever downloaded at run time."""

    voice_tts_model: str | None = None
    """Piper voice for spoken replies and briefings (an ``.onnx`` file with its ``.json`` beside it); unset is the
    bundled en_US joe-medium voice."""

    voice_speaking_rate: float = Field(default=1.0, ge=0.5, le=2.0)
    """How fast replies and briefings are spoken: 1.0 is the voice's own pace, 1.2 a fifth faster."""

    @field_validator("confirm_threshold")
    @classmethod
    def _threshold_in_range(cls, value: int) -> int:
        if not 1 <= value <= 10:
            raise ValueError("must be between 1 and 10 (rule 5 can be made stricter, never looser)")
        return value

    @field_validator("decision_window_minutes")
    @classmethod
    def _window_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 minute (the window may be made longer, never switched off)")
        return value

    @field_validator("usd_to_eur")
    @classmethod
    def _rate_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive exchange rate")
        return value

    @field_validator("provider_server_limits")
    @classmethod
    def _limits_known(cls, value: dict[str, int]) -> dict[str, int]:
        known = ("hetzner", "digitalocean", "vultr", "contabo", "hostinger", "sim")
        for provider, limit in value.items():
            if provider not in known:
                raise ValueError(f"'{provider}' is not a provider; use {', '.join(known[:-1])}")
            if limit < 0:
                raise ValueError(f"the limit for {provider} must be 0 or more")
        return value

    @field_validator("archive_s3_bucket")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_RE.fullmatch(value):
            raise ValueError("must be an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens")
        return value

    @field_validator("archive_s3_prefix")
    @classmethod
    def _prefix_clean(cls, value: str) -> str:
        return value.strip().strip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _TOML_FILE.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def store_url(self) -> str:
        """The effective database URL."""
        return self.database_url or f"sqlite:///{self.home / 'clawops.db'}"

    def __repr_args__(self) -> Any:
        # SecretStr already masks itself; this keeps the URL's password out of reprs too.
        for key, value in super().__repr_args__():
            if (
                key in ("database_url", "archive_s3_endpoint_url")
                and isinstance(value, str)
                and "@" in value
                and ":" in value.split("@")[0]
            ):
                scheme, _, rest = value.partition("://")
                value = f"{scheme}://***@{rest.split('@', 1)[1]}"
            yield key, value


def _config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.exists():
            raise ConfigError(f"Settings file {explicit} does not exist; create it or drop --config.")
        return explicit
    env_file = os.environ.get("CLAWOPS_CONFIG_FILE")
    if env_file:
        path = Path(env_file)
        if not path.exists():
            raise ConfigError(f"CLAWOPS_CONFIG_FILE points to {path}, which does not exist; fix or unset it.")
        return path
    home = Path(os.environ.get("CLAWOPS_HOME") or default_home())
    candidate = home / "config.toml"
    return candidate if candidate.exists() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings`, turning every mistake into one clear :class:`ConfigError`."""
    path = _config_file(config_file)
    if path is not None:
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Settings file {path} is not valid TOML ({exc}); fix that line.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Settings file {path} cannot be read ({exc}); check its permissions.") from None
    token = _TOML_FILE.set(path)
    for warning in unknown_env_warnings():
        log.warning(warning)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    finally:
        _TOML_FILE.reset(token)


# CLAWOPS_* variables read elsewhere than Settings: the settings file's own location, the key ring's master key
# (engine.trust reads it from an injectable mapping), the chat client's recorder and web log level, tests.
_OTHER_ENV = {
    "CLAWOPS_CONFIG_FILE",
    "CLAWOPS_MASTER_KEY",
    "CLAWOPS_RECORDER",
    "CLAWOPS_LOG_LEVEL",
    "CLAWOPS_REQUIRE_POSTGRES",
}
_OTHER_PREFIXES = ("CLAWOPS_VOICE_", "CLAWOPS_TEST_", "CLAWOPS_BENCH_")


def unknown_env_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per ``CLAWOPS_*`` variable no setting reads, naming the nearest valid one (typos such as
    ``CLAWOPS_TELEGRAM_TOKEN`` would otherwise be ignored without a word)."""
    env = os.environ if environ is None else environ
    known = {f"CLAWOPS_{name.upper()}" for name in Settings.model_fields} | _OTHER_ENV
    warnings = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith("CLAWOPS_") or upper in known or upper.startswith(_OTHER_PREFIXES):
            continue
        guess = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]}?" if guess else " (no setting has that name)."
        warnings.append(f"Unknown setting {name} in the environment is ignored{hint}")
    return warnings


def _explain(exc: ValidationError, path: Path | None) -> str:
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"]) or "?"
    where = f"in {path}" if path else "in the environment"
    if error["type"] == "extra_forbidden":
        known = list(Settings.model_fields)
        guess = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else f"; known keys: {', '.join(known)}."
        return f"Unknown setting '{key}' {where}{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"Setting '{key}' {where} is invalid: {message}. (Env var: CLAWOPS_{key.upper()}.)"
