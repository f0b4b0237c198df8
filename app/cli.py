"""The ``clawops`` command line.

Typer gives us parsing and help; every engine error is printed as its one
sentence on stderr with a non-zero exit code — never a traceback for a user
mistake.  Heavy imports (Textual, the engine) happen inside commands so that
``clawops ask`` starts fast.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from engine.client import EmbeddedClient

cli = typer.Typer(
    name="clawops",
    help="Run a fleet of paired OpenClaw gateways by talking to a team of agents.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).", envvar="CLAWOPS_CONFIG_FILE")]
OperatorOpt = Annotated[
    str | None,
    typer.Option("--operator", help="Act as this operator (default: the local owner).", envvar="CLAWOPS_OPERATOR"),
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"clawops: {_shown(message)}", err=True)
    raise typer.Exit(code)


def _shown(text: str) -> str:
    """Text safe for the operator's terminal: control sequences (OSC 52, DCS, C1, bidi) from fleet text stripped."""
    from engine.client import printable

    return printable(text)


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_line(value: Any) -> str:
    """JSON with every character a terminal could act on escaped (``\\u009b``), so the data stays exact."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _open_client(config: Path | None, operator: str | None, channel: str = "cli") -> EmbeddedClient:
    from engine.client import ClawOpsError, EmbeddedClient

    try:
        client = EmbeddedClient.open(config_file=config, operator=operator, channel=channel)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
        raise  # unreachable; keeps type checkers happy
    _started()
    return client


def _open_chat_client(
    config: Path | None, operator: str | None, channel: str = "tui", background_jobs: bool = False
) -> Any:
    """The daemon client when ``engine_url`` is configured (with the operator's ``api_key``), else embedded.

    The chat asks for ``background_jobs``: its turns return as soon as a job starts and the progress arrives
    on the feed, so the operator can keep talking; ``clawops ask`` waits for the job instead.
    """
    from engine.client import ClawOpsError, open_client

    try:
        client = open_client(config_file=config, operator=operator, channel=channel, background_jobs=background_jobs)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
        raise  # unreachable; keeps type checkers happy
    _started()
    return client


@cli.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context, config: ConfigOpt = None, operator: OperatorOpt = None) -> None:
    """With no command, open the chat."""
    ctx.obj = {"config": config, "operator": operator}
    if ctx.invoked_subcommand is None:
        client = _open_chat_client(config, operator, channel="tui", background_jobs=True)
        from app.chat import ChatApp
        from engine.client import load_settings

        # Full tracebacks of failed turns go here (the transcript shows one sentence and this path).
        settings = load_settings(config)
        log_path = settings.log or settings.home / "chat.log"
        try:
            ChatApp(client, log_path=log_path).run()
        finally:
            client.close()


@cli.command()
def ask(
    ctx: typer.Context,
    message: Annotated[str | None, typer.Argument(help="What to say to the team.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run reads; only plan changes.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm any plan this turn makes (you, not a model).")] = False,
    session: Annotated[str | None, typer.Option("--session", help="Keep a named conversation (so 'go' works).")] = None,
    voice_file: Annotated[
        Path | None,
        typer.Option(
            "--voice", help="Send this audio file as a voice note instead of MESSAGE; the reply is spoken too."
        ),
    ] = None,
) -> None:
    """Run one conversation turn and print the reply (for scripts, cron and tests)."""
    from engine.client import ClawOpsError

    if (message is None) == (voice_file is None):
        _fail("give either a MESSAGE or --voice FILE (exactly one).", 64)
    # text turns go to the configured daemon if there is one; voice notes are heard by the local engine
    open_for = _open_client if voice_file is not None else _open_chat_client
    client = open_for(ctx.obj["config"], ctx.obj["operator"], channel="cli")
    heard: Any = None
    try:
        if voice_file is not None:
            heard = asyncio.run(client.ask_voice(voice_file, session=session, dry_run=dry_run, yes=yes))
            result = heard.result
        else:
            result = asyncio.run(client.ask(message or "", session=session, dry_run=dry_run, yes=yes))
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    finally:
        client.close()
    if as_json:
        typer.echo(_json_line(heard.to_contract() if heard else result.to_contract()))
    elif heard is not None:
        typer.echo(_shown(f"🎙 “{heard.transcript}”\n{result.reply}"))
        typer.echo(
            _shown(
                f"voice reply: {heard.voice_reply}" if heard.voice_reply else f"voice reply: none ({heard.voice_error})"
            )
        )
    else:
        typer.echo(_shown(result.reply))
    statuses = {c.status for c in result.tool_calls}
    if "error" in statuses or "refused" in statuses:
        raise typer.Exit(3 if "refused" in statuses else 1)


@audit_cli.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Check the whole hash chain; name the first edited, missing, inserted or reordered entry."""
    from engine.client import ClawOpsError

    parent: dict[str, Any] = ctx.find_root().obj or {}
    client = _open_client(parent.get("config"), parent.get("operator"))
    try:
        report = client.audit_verify()
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
        return
    finally:
        client.close()
    if report.problem is not None:
        _fail(f"audit chain BROKEN after {report.entries} good entries: {report.problem.message}", 2)
    typer.echo(f"audit chain OK: {report.entries} entries, head {report.head_hash[:16]}…")


operator_cli = typer.Typer(help="Operators, their roles, channel identities and API keys.", no_args_is_help=True)
cli.add_typer(operator_cli, name="operator")
secrets_cli = typer.Typer(help="The encrypted secret store (values are never printed).", no_args_is_help=True)
cli.add_typer(secrets_cli, name="secrets")


def _trust_call(ctx: typer.Context, fn: Any) -> Any:
    """Open the client as the global --operator, run ``fn(client)``, print any engine error as one sentence."""
    from engine.client import ClawOpsError

    parent: dict[str, Any] = ctx.find_root().obj or {}
    client = _open_client(parent.get("config"), parent.get("operator"))
    try:
        return fn(client)
    except ClawOpsError as err:
        _fail(client.redact(str(err)), getattr(err, "exit_code", 1))
    finally:
        client.close()


def _show_key(key: Any) -> None:
    typer.echo(f"API key for {key.operator} ({key.id}, scopes: {', '.join(key.scopes)}) — shown once, store it now:")
    typer.echo(key.key)


@operator_cli.command("add")
def operator_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Lower-case handle, e.g. alice.")],
    role: Annotated[str, typer.Option("--role", help="owner, operator or viewer.")] = "viewer",
    tenant: Annotated[str | None, typer.Option("--tenant", help="Scope the operator to one tenant.")] = None,
    telegram: Annotated[str | None, typer.Option("--telegram", help="Telegram numeric user id.")] = None,
    whatsapp: Annotated[str | None, typer.Option("--whatsapp", help="WhatsApp number, international form.")] = None,
    ssh: Annotated[str | None, typer.Option("--ssh", help="SSH user name.")] = None,
    key: Annotated[bool, typer.Option("--key", help="Also issue an API key (printed once).")] = False,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Key scope: read, operate, admin.")] = None,
) -> None:
    """Add an operator (owners only); every change is audited."""

    def run(client: Any) -> Any:
        view, issued = client.operator_add(name, role, tenant=tenant, with_key=key, scopes=scope)
        for channel, ext in (("telegram", telegram), ("whatsapp", whatsapp), ("ssh", ssh)):
            if ext:
                client.operator_link(name, channel, ext)
        return view, issued

    view, issued = _trust_call(ctx, run)
    typer.echo(f"operator {view.name} added ({view.role}{', tenant ' + view.tenant_id if view.tenant_id else ''})")
    if issued is not None:
        _show_key(issued)


@operator_cli.command("list")
def operator_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List operators with role, tenant, active keys and linked identities."""
    views = _trust_call(ctx, lambda c: c.operator_list())
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in views], ensure_ascii=False))
        return
    for v in views:
        status = "active" if v.revoked_at is None else f"revoked {v.revoked_at:%Y-%m-%d}"
        idents = ", ".join(v.identities) or "-"
        typer.echo(
            f"{v.name:<16} {v.role:<9} {v.tenant_id or '(all tenants)':<16} {status:<19} "
            f"keys={v.keys} identities={idents}"
        )


@operator_cli.command("revoke")
def operator_revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Operator to revoke.")]) -> None:
    """Revoke an operator with all its API keys and channel identities."""
    view = _trust_call(ctx, lambda c: c.operator_revoke(name))
    typer.echo(f"operator {view.name} revoked; its API keys and channel identities no longer work")


@operator_cli.command("link")
def operator_link(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Operator.")],
    channel: Annotated[str, typer.Argument(help="telegram, whatsapp or ssh.")],
    external_id: Annotated[str, typer.Argument(help="Telegram user id, WhatsApp number or SSH user.")],
) -> None:
    """Map a channel identity to an operator (messages from it act as that operator)."""
    _trust_call(ctx, lambda c: c.operator_link(name, channel, external_id))
    typer.echo(f"{channel} identity linked to {name}")


@operator_cli.command("key")
def operator_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Operator the key acts as.")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="read, operate, admin (default: the role's).")
    ] = None,
    revoke: Annotated[str | None, typer.Option("--revoke", help="Revoke this key id instead of issuing one.")] = None,
) -> None:
    """Issue an API key (printed once, stored only as a hash), or revoke one with --revoke KEY_ID."""
    if revoke:
        view = _trust_call(ctx, lambda c: c.key_revoke(revoke))
        typer.echo(f"key {view.id} of {view.operator} revoked")
        return
    _show_key(_trust_call(ctx, lambda c: c.operator_key(name, scope)))


@operator_cli.command("keys")
def operator_keys(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this operator's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API keys: id, operator, scopes, created, last used, revoked (the keys themselves are not stored)."""
    keys = _trust_call(ctx, lambda c: c.key_list(name))
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys]))
        return
    for k in keys:
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never used"
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        typer.echo(f"{k.id:<14} {k.operator:<16} {','.join(k.scopes):<20} {used:<17} {state}")
    if not keys and not as_json:
        typer.echo("no API keys; issue one with `clawops operator key NAME`")


@secrets_cli.command("set")
def secrets_set(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Secret name, e.g. hetzner/token.")]
) -> None:
    """Store a secret; the value comes from standard input or a hidden prompt, never the command line."""
    if sys.stdin.isatty():
        value = typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    info = _trust_call(ctx, lambda c: c.secrets_set(name, value))
    typer.echo(f"secret {info.name} stored (key version {info.key_version})")


@secrets_cli.command("list")
def secrets_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Names, key versions and ages of the stored secrets (never their values)."""
    infos = _trust_call(ctx, lambda c: c.secrets_list())
    rows = [
        {
            "name": i.name,
            "key_version": i.key_version,
            "age_days": round(i.age_days(), 1),
            "rotated_at": i.rotated_at and i.rotated_at.isoformat(),
        }
        for i in infos
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no secrets stored; add one with `clawops secrets set NAME`")
    for r in rows:
        typer.echo(f"{r['name']:<40} v{r['key_version']:<4} {r['age_days']:>7} days")


@secrets_cli.command("rotate")
def secrets_rotate(
    ctx: typer.Context,
    retire: Annotated[bool, typer.Option("--retire", help="Then drop the old key versions from the key file.")] = False,
) -> None:
    """Re-encrypt every secret under a new key version (resumes an interrupted rotation)."""
    report = _trust_call(ctx, lambda c: c.secrets_rotate(retire=retire))
    verb = "resumed and finished" if report.resumed else "done"
    noun = "secret" if report.rotated == 1 else "secrets"
    typer.echo(
        f"rotation {verb}: {report.rotated} {noun} re-encrypted under key version {report.key_version}"
        + (f"; {report.remaining} left, run it again" if report.remaining else "")
    )


@audit_cli.command("query")
def audit_query(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Operator or agent, e.g. owner or guardian.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Action or prefix, e.g. refused or login.failed.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Exact target, e.g. acct-042.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d, or an ISO date.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")] = False,
) -> None:
    """Search the audit log (newest first); secrets are redacted."""
    rows = _trust_call(
        ctx, lambda c: c.audit_query(actor=actor, action=action, target=target, since=since, limit=limit)
    )
    for r in rows:
        if as_json:
            typer.echo(_json_line(r.to_dict()))
        else:
            typer.echo(
                _shown(
                    f"#{r.seq:<6} {r.ts[:19]} {r.actor:<18} {r.channel:<9} {r.action:<22} {r.target:<20} {r.outcome}"
                )
            )
    if not rows and not as_json:
        typer.echo("no matching audit entries")


@audit_cli.command("anchor")
def audit_anchor(ctx: typer.Context) -> None:
    """Copy the chain head outside the store, so `audit verify` also catches a cut-off tail."""
    seq, digest, path = _trust_call(ctx, lambda c: c.audit_anchor())
    typer.echo(f"audit chain anchored at #{seq} ({digest[:16]}…) in {path}")


@cli.command()
def brief(
    ctx: typer.Context,
    now: Annotated[bool, typer.Option("--now", help="Produce the briefing at once (voice note + report).")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the files (default: $CLAWOPS_HOME/reports).")
    ] = None,
    weekly: Annotated[bool, typer.Option("--weekly", help="The weekly report instead of the daily briefing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    at: Annotated[str | None, typer.Option("--at", help="Your briefing time, HH:MM (in --tz).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Time zone, e.g. Europe/Berlin (default UTC).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="telegram, whatsapp or both (comma separated).")] = None,
    days: Annotated[str | None, typer.Option("--days", help="every day, weekdays, weekends or mon,wed,fri.")] = None,
    off: Annotated[bool, typer.Option("--off", help="No scheduled briefings (--now still works).")] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Show when and where your briefing comes (the default).")
    ] = False,
) -> None:
    """Briefer: --now produces the briefing at once; --at/--tz/--to/--days/--off set your schedule; else show it."""
    from engine.client import ClawOpsError

    client = _open_client(ctx.obj["config"], ctx.obj["operator"])
    try:
        if not now:
            changes = {"time": at, "tz": tz, "channels": to, "days": days, "enabled": False if off else None}
            prefs = client.briefing_prefs({k: v for k, v in changes.items() if v is not None and not show})
            typer.echo(json.dumps(prefs, ensure_ascii=False) if as_json else prefs["reply"])
            return
        b = client.brief_now("weekly" if weekly else "daily", out)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
        return
    finally:
        client.close()
    paths = {
        "voice": str(b.voice_path) if b.voice_path else None,
        "html": str(b.html_path),
        "markdown": str(b.markdown_path),
        "duration_s": b.duration_s,
        "title": b.title,
    }
    if as_json:
        typer.echo(json.dumps(paths | {"text": b.text, "voice_error": b.voice_error}, ensure_ascii=False))
        return
    typer.echo(b.title)
    typer.echo(
        f"voice note: {b.voice_path} ({b.duration_s:.0f} s)" if b.voice_path else f"voice note: none ({b.voice_error})"
    )
    typer.echo(f"report:     {b.html_path}")
    typer.echo(f"markdown:   {b.markdown_path}")


@cli.command()
def emulate(
    provider: Annotated[str, typer.Argument(help="hetzner, vultr, digitalocean, contabo or hostinger.")],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 0,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Emulated seconds per real second.")] = 1.0,
) -> None:
    """Serve one provider's emulated API on loopback; the first line printed is its base URL."""
    from engine.client import ClawOpsError, serve_emulator

    _started()
    try:
        serve_emulator(provider, port, time_scale=time_scale)
    except ClawOpsError as err:
        _fail(str(err), 64)
    except KeyboardInterrupt:
        pass


@cli.command()
def engine(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Listen address (default: api_host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: api_port, 8742; 0 = any free).")] = None,
) -> None:
    """Run the engine daemon in the foreground: the operator API (HTTP + WebSocket, /metrics), JSON logs."""
    from engine.client import ClawOpsError, serve_daemon

    try:
        serve_daemon(config_file=ctx.obj["config"], host=host, port=port, started=_started)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    except OSError as err:
        _fail(f"cannot listen ({err.strerror or err}); pick another --port or stop what holds it.", 69)


@cli.command()
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).")] = 8743,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="The HTTPS URL your reverse proxy serves this on.")
    ] = None,
) -> None:
    """Serve the chat in a browser (textual-serve) on loopback, behind the operator's API key; prints its URL."""
    from app.web import is_loopback, run_web
    from engine.client import ClawOpsError

    if not is_loopback(host):
        _fail(f"clawops web listens on loopback only, not {host}; put an HTTPS reverse proxy in front.", 64)
    _started()
    try:
        run_web(config=ctx.obj["config"], host=host, port=port, public_url=public_url)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    except OSError as err:
        _fail(f"cannot listen ({err.strerror or err}); pick another --port or stop what holds it.", 69)


job_cli = typer.Typer(help="Jobs: where they stand, and stopping them.", no_args_is_help=True)
cli.add_typer(job_cli, name="job")


def _job_turn(ctx: typer.Context, typed: str, tool: str, job_id: str | None, as_json: bool) -> None:
    """A job command is a turn like the chat's (same policy, audit and reply; daemon or embedded), sent as the
    tool call itself: ``typed`` is only what the history shows."""
    from engine.client import ClawOpsError, ToolCall

    call = ToolCall(tool, {"job_id": job_id.strip()} if job_id and job_id.strip() else {})
    client = _open_chat_client(ctx.obj["config"], ctx.obj["operator"], channel="cli")
    try:
        result = asyncio.run(client.ask(typed, call=call))
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    finally:
        client.close()
    typer.echo(_json_line(result.to_contract()) if as_json else _shown(result.reply))
    if any(c.status in ("error", "refused") for c in result.tool_calls):
        raise typer.Exit(1)


@job_cli.command("stop")
def job_stop(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job to stop, e.g. job-0193f1a2….")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")] = False,
) -> None:
    """Stop a running job at its next safe step: what is under way finishes, the rest never starts."""
    _job_turn(ctx, f"clawops job stop {job_id.strip()}", "job_stop", job_id, as_json)


@job_cli.command("status")
def job_status(
    ctx: typer.Context,
    job_id: Annotated[str | None, typer.Argument(help="The job; without it, the running and recent jobs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")] = False,
) -> None:
    """Where a job stands (steps done, instance states, ETA), or which jobs are running."""
    _job_turn(ctx, f"clawops job status {job_id.strip() if job_id else ''}".rstrip(), "job_status", job_id, as_json)


def _flags_take_no_value() -> None:
    """Typer prints a type beside every option (``--json <bool>``); a flag takes no value, so it shows none."""
    from typer import core

    shown = core.TyperOption.display_type_rich

    def display(self: core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    core.TyperOption.display_type_rich = display  # type: ignore[method-assign]


_flags_take_no_value()


def main() -> None:
    """Console-script entry point."""
    # Start-up only creates what lives until exit (modules, classes, the engine): collecting cyclic garbage while
    # it is made finds nearly none and costs ~0.15 s of CPU per command, ~0.3 s per daemon. Off until _started().
    gc.disable()
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        _spare_the_exit_collections()


def _started() -> None:
    """The command's engine (or client, or server) is open: collect garbage again from here on.

    What start-up made stays for the life of the process, so it is frozen first (``gc.freeze()``, as Python's docs
    advise after a start-up with the collector off): later collections of a long-running daemon or chat do not
    walk those objects again.  Every command that runs on calls this once it is open (a second call is harmless).
    """
    gc.freeze()
    gc.enable()


def _spare_the_exit_collections() -> None:
    """Leave what is alive now out of the collections the interpreter runs while it exits.

    Python ends by collecting cyclic garbage more than once over every object still alive: the engine's modules,
    classes and models, ~110k objects, so ~0.3 s of CPU for every ``clawops`` command and every daemon stop,
    spent only to hand memory back that the process's end hands back anyway.  ``gc.freeze()`` moves those objects
    where the collector does not look (what is made after it, during exit, is still collected).  Lost: the
    ``__del__`` of objects caught in a reference cycle at exit, which Python never promises to run; the
    engine's store, sockets and files are closed by the commands themselves, and logging flushes at exit as before.
    """
    gc.freeze()


if __name__ == "__main__":
    main()
