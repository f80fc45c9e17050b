"""The `followflow` command: ad-hoc runs of the same flows the deployments run.

Each subcommand is a thin shell over a function in the layer that owns the behaviour;
heavy imports (Prefect above all, ~1.7 s) happen inside the commands that need them so
that `followflow --help` and `followflow emulator` start fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from followflow.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    name="followflow",
    help=(
        "Keep an X account's followers and following in DuckDB and act on them safely.\n\n"
        "Settings come from FOLLOWFLOW_* environment variables or a .env file "
        "(see the README's configuration table). Try `followflow demo` first: it runs the "
        "whole job against the built-in X API emulator, no account needed."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
auth_app = typer.Typer(help="Log in to X with OAuth 2.0 (PKCE) and inspect stored tokens.")
app.add_typer(auth_app, name="auth")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    typer.echo(f"followflow: error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error), code=2)


class Preset(StrEnum):
    v2_2023 = "v2-2023"
    v2_2026 = "v2-2026"


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="Loopback port to serve on; 0 picks a free one.")] = 0,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic graph; same seed, same graph.")
    ] = 1,
    manifest: Annotated[
        Path,
        typer.Option(help="Where to write the manifest: base URL, app and account credentials."),
    ] = Path("emulator-manifest.json"),
    preset: Annotated[
        Preset, typer.Option(help="Rate-limit preset: v2-2023 (15 reads/15 min) or v2-2026 (300).")
    ] = Preset.v2_2023,
    window_seconds: Annotated[
        float, typer.Option(min=0.001, help="Length of a rate-limit window (X: 900).")
    ] = 900.0,
    day_seconds: Annotated[
        float, typer.Option(min=0.001, help="Length of a 24-hour-cap day (X: 86400).")
    ] = 86_400.0,
    churn: Annotated[
        float,
        typer.Option(
            min=0.0, help="Followers gained and lost per owned account per emulator hour."
        ),
    ] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Fault mix, e.g. 'seed=7,p=0.05,kinds=500+503+reset+slow+truncate+429bare' "
            "(see `followflow.emulator.faults`). Default: none."
        ),
    ] = None,
    size: Annotated[
        str,
        typer.Option(
            help="World size: 'demo' (small accounts), 'test' (the paging edge cases) or "
            "'bench' (adds an account with 1,000,000 followers, built lazily)."
        ),
    ] = "demo",
    public_base_url: Annotated[
        str,
        typer.Option(help="Public base URL OAuth 1.0a signatures may also be made against."),
    ] = "https://api.twitter.com",
    no_limits: Annotated[
        bool, typer.Option("--no-limits", help="Disable 15-minute windows and 24-hour caps.")
    ] = False,
) -> None:
    """Serve the X API v2 follows emulator on 127.0.0.1 until stopped (Ctrl-C)."""
    from followflow.emulator.server import run_from_cli

    try:
        run_from_cli(
            port=port,
            seed=seed,
            manifest=manifest,
            preset=preset.value,
            window_seconds=window_seconds,
            day_seconds=day_seconds,
            churn=churn,
            faults=faults,
            size=size,
            public_base_url=public_base_url,
            limits=not no_limits,
        )
    except ValueError as error:
        fail(str(error), code=2)


def not_yet(command: str) -> NoReturn:
    fail(f"`followflow {command}` is not available in this version yet; see the README.")


@app.command()
def demo() -> None:
    """Run the main job on the built-in emulator: snapshot, churn, snapshot, follow-back."""
    not_yet("demo")


@app.command()
def snapshot() -> None:
    """Snapshot followers and/or following of ACCOUNT... into the DuckDB file."""
    not_yet("snapshot")


@app.command("follow-back")
def follow_back() -> None:
    """Plan (dry run, the default) or run (--live) a follow-back campaign for ACCOUNT."""
    not_yet("follow-back")


@app.command("unfollow-cleanup")
def unfollow_cleanup() -> None:
    """Unfollow accounts that never followed back (opt-in, with grace period and approval)."""
    not_yet("unfollow-cleanup")


@app.command()
def report() -> None:
    """Write a self-contained HTML report for ACCOUNT: counts over time, events, actions."""
    not_yet("report")


@app.command()
def serve() -> None:
    """Serve the deployments (snapshots every 6 h, daily follow-back) in one process."""
    not_yet("serve")


@auth_app.command("login")
def auth_login() -> None:
    """Log in with OAuth 2.0 Authorization Code + PKCE and store the tokens."""
    from followflow.xapi.errors import XAPIError
    from followflow.xapi.oauth2_login import login

    settings = settings_or_exit()
    try:
        login(settings, open_browser=True, out=typer.echo)
    except XAPIError as error:
        fail(str(error))


@auth_app.command("status")
def auth_status() -> None:
    """Show who is logged in and when the tokens expire (never the tokens)."""
    from followflow.xapi.errors import XAPIError
    from followflow.xapi.oauth2_login import status

    settings = settings_or_exit()
    try:
        typer.echo(status(settings))
    except XAPIError as error:
        fail(str(error))


def main() -> None:
    app()
