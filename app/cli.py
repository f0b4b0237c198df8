"""The ``clawops`` command line.

Typer gives us parsing and help; every engine error is printed as its one
sentence on stderr with a non-zero exit code — never a traceback for a user
mistake.  Heavy imports (Textual, the engine) happen inside commands so that
``clawops ask`` starts fast.
"""

from __future__ import annotations

import asyncio
import json
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
    str | None, typer.Option("--operator", help="Act as this operator (default: the local owner).", envvar="CLAWOPS_OPERATOR")
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"clawops: {message}", err=True)
    raise typer.Exit(code)


def _open_client(config: Path | None, operator: str | None, channel: str = "cli") -> EmbeddedClient:
    from engine.client import ClawOpsError, EmbeddedClient

    try:
        return EmbeddedClient.open(config_file=config, operator=operator, channel=channel)
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
        raise  # unreachable; keeps type checkers happy


@cli.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context, config: ConfigOpt = None, operator: OperatorOpt = None) -> None:
    """With no command, open the chat."""
    ctx.obj = {"config": config, "operator": operator}
    if ctx.invoked_subcommand is None:
        client = _open_client(config, operator, channel="tui")
        from app.chat import ChatApp

        try:
            ChatApp(client).run()
        finally:
            client.close()


@cli.command()
def ask(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(help="What to say to the team.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run reads; only plan changes.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm any plan this turn makes (you, not a model).")] = False,
    session: Annotated[str | None, typer.Option("--session", help="Keep a named conversation (so 'go' works).")] = None,
) -> None:
    """Run one conversation turn and print the reply (for scripts, cron and tests)."""
    from engine.client import ClawOpsError

    client = _open_client(ctx.obj["config"], ctx.obj["operator"])
    try:
        result = asyncio.run(client.ask(message, session=session, dry_run=dry_run, yes=yes))
    except ClawOpsError as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    finally:
        client.close()
    if as_json:
        typer.echo(json.dumps(result.to_contract(), ensure_ascii=False))
    else:
        typer.echo(result.reply)
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


@cli.command()
def emulate(
    provider: Annotated[str, typer.Argument(help="hetzner, vultr, digitalocean, contabo or hostinger.")],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 0,
) -> None:
    """Serve one provider's emulated API on loopback; the first line printed is its base URL."""
    from engine.client import ClawOpsError, serve_emulator

    try:
        serve_emulator(provider, port)
    except ClawOpsError as err:
        _fail(str(err), 64)
    except KeyboardInterrupt:
        pass


def main() -> None:
    """Console-script entry point."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
