"""The `followflow` command: ad-hoc runs of the same flows the deployments run.

Each subcommand is a thin shell over a function in the layer that owns the behaviour;
heavy imports (Prefect above all, ~1.7 s) happen inside the commands that need them so
that `followflow --help` and `followflow emulator` start fast.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from followflow.cli_support import describe, flow_session, progress_bars
from followflow.settings import Settings, SettingsError, load_settings

ParamsT = TypeVar("ParamsT", bound=BaseModel)

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
db_app = typer.Typer(help="Inspect the store, or copy a DuckDB file into PostgreSQL.")
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    typer.echo(f"followflow: error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    """The settings (applying FOLLOWFLOW_LOG_LEVEL), or exit 2 with the bad one named."""
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error), code=2)
    logging.getLogger("followflow").setLevel(settings.log_level)
    return settings


class Preset(StrEnum):
    v2_2023 = "v2-2023"
    v2_2026 = "v2-2026"


@app.command()
def emulator(
    host: Annotated[
        str,
        typer.Option(
            help="Address to serve on, e.g. a link address other hosts reach; the manifest's "
            "base_url names it."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to serve on; 0 picks a free one.")
    ] = 0,
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
    accounts: Annotated[
        int,
        typer.Option(
            min=0,
            help="Owned accounts with tokens to add (ff_fleet0, ...), follower counts heavy "
            "tailed and the same for a seed; all are in the manifest.",
        ),
    ] = 0,
    public_base_url: Annotated[
        str,
        typer.Option(help="Public base URL OAuth 1.0a signatures may also be made against."),
    ] = "https://api.twitter.com",
    no_limits: Annotated[
        bool, typer.Option("--no-limits", help="Disable 15-minute windows and 24-hour caps.")
    ] = False,
) -> None:
    """Serve the X API v2 follows emulator (on 127.0.0.1 by default) until stopped (Ctrl-C)."""
    from followflow.emulator.server import run_from_cli

    try:
        run_from_cli(
            host=host,
            port=port,
            seed=seed,
            manifest=manifest,
            preset=preset.value,
            window_seconds=window_seconds,
            day_seconds=day_seconds,
            churn=churn,
            faults=faults,
            size=size,
            accounts=accounts,
            public_base_url=public_base_url,
            limits=not no_limits,
        )
    except ValueError as error:
        fail(str(error), code=2)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="DuckDB file to write.")] = Path("followflow.duckdb"),
    report_path: Annotated[
        Path, typer.Option("--report", help="Where to write the HTML report.")
    ] = Path("followflow-report.html"),
) -> None:
    """Run the main job on the built-in emulator: snapshot, churn, snapshot, follow-back.

    Starts the X API emulator on a free loopback port, snapshots the demo accounts into
    ./followflow.duckdb, lets followers come and go, snapshots again, runs a follow-back
    campaign within the budgets, then prints what changed and where to look. No X account
    or credentials needed; a second run reuses the database.
    """
    from followflow.demo import demo_world, where_next

    with demo_world(db) as base_url, flow_session():
        from flows.demo import demo as demo_flow

        typer.echo(f"X API emulator on {base_url}; writing {db}")
        with progress_bars():
            summary = demo_flow(report_path.resolve())
        typer.echo("")
        typer.echo(summary.table())
        typer.echo("")
        typer.echo(where_next(db, report_path))


@app.command()
def snapshot(
    accounts: Annotated[
        list[str], typer.Argument(help="Usernames (with or without @) or numeric user ids.")
    ],
    lists: Annotated[str, typer.Option(help="Which lists: followers, following or both.")] = "both",
    mode: Annotated[
        str,
        typer.Option(help="full: whole lists, gains and losses. head: only new followers, cheap."),
    ] = "full",
    max_reads: Annotated[
        int | None, typer.Option(help="Stop before reading more users than this.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs.")] = False,
) -> None:
    """Snapshot followers and/or following of ACCOUNT... into the DuckDB file.

    Resumes an interrupted snapshot from its last page. Exits 1 if any account or list
    could not be read (the others are still saved).
    """
    from flows.params import SnapshotParams

    settings_or_exit()  # a bad setting fails here, before any flow run starts

    params = parse(SnapshotParams, accounts=accounts, lists=lists, mode=mode, max_reads=max_reads)
    with flow_session(verbose):
        from flows.snapshot_followers import snapshot_followers

        with progress_bars():
            outcomes = snapshot_followers(params)
        for o in outcomes:
            change = "baseline" if o.baseline else f"+{len(o.gained_ids)} -{len(o.lost_ids)}"
            typer.echo(f"@{o.account} {o.kind}: {o.users_read:,} read, {change}")


@app.command("follow-back")
def follow_back(
    account: Annotated[str, typer.Argument(help="Username or id of the account that follows.")],
    live: Annotated[
        bool, typer.Option("--live/--dry-run", help="Really follow (default: plan only).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Approve the plan without asking.")] = False,
    max_follows: Annotated[int, typer.Option(help="Most follows this run (0-400).")] = 50,
    min_followers: Annotated[
        int | None, typer.Option(help="Skip candidates with fewer followers.")
    ] = None,
    include_protected: Annotated[
        bool, typer.Option("--include-protected", help="Also request protected accounts.")
    ] = False,
    refresh: Annotated[str, typer.Option(help="Snapshot first: head, full or none.")] = "head",
    spread: Annotated[
        bool,
        typer.Option(
            "--spread/--no-spread",
            help="Spread the day's budget over the day (default), or send in one burst.",
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs.")] = False,
) -> None:
    """Plan (dry run, the default) or run (--live) a follow-back campaign for ACCOUNT.

    A live run shows the plan and asks before following (or --yes). Follows stay within
    the daily budgets (400 per account, 1,000 per app by default) and are paced.
    """
    from flows.params import FollowBackParams

    settings_or_exit()  # a bad setting fails here, before any flow run starts

    filters = {"min_followers": min_followers, "exclude_protected": not include_protected}
    params = parse(
        FollowBackParams,
        account=account,
        max_follows=max_follows,
        refresh=refresh,
        spread_over_day=spread,
        filters={k: v for k, v in filters.items() if v is not None},
    )
    with flow_session(verbose):
        from flows.follow_back import follow_back as follow_back_flow

        plan = follow_back_flow(params)
        typer.echo(plan.stopped)
        if not live:
            typer.echo("Dry run: nothing was followed. Run again with --live to follow.")
            return
        if not yes and not typer.confirm(f"Follow up to {max_follows} accounts now?"):
            raise typer.Exit(1)
        approved = params.model_copy(update={"live": True, "approved": True, "refresh": "none"})
        result = follow_back_flow(approved)
        followed = result.count("following", "pending_follow")
        typer.echo(f"followed {followed}, failed {result.count('failed')}: {result.stopped}")


@app.command("unfollow-cleanup")
def unfollow_cleanup(
    account: Annotated[str, typer.Argument(help="Username or id of the account.")],
    live: Annotated[
        bool, typer.Option("--live/--dry-run", help="Really unfollow (default: plan only).")
    ] = False,
    grace_days: Annotated[
        int | None, typer.Option(help="Only accounts followed at least this many days ago.")
    ] = None,
    allow: Annotated[
        list[str] | None, typer.Option(help="Never unfollow this username or id (repeatable).")
    ] = None,
    max_unfollows: Annotated[int, typer.Option(min=0, max=500, help="Most this run.")] = 50,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs.")] = False,
) -> None:
    """Unfollow accounts that never followed back (opt-in, with grace period and approval).

    Off unless FOLLOWFLOW_UNFOLLOW_CLEANUP_ENABLED=true. A live run pauses before each
    batch until it is approved in the Prefect UI (the command prints where).
    """
    from flows.params import UnfollowCleanupParams

    settings_or_exit()  # a bad setting fails here, before any flow run starts

    params = parse(
        UnfollowCleanupParams,
        account=account,
        live=live,
        grace_days=grace_days,
        allowlist=allow or [],
        max_unfollows=max_unfollows,
    )
    with flow_session(verbose) as api_url:
        from flows.unfollow_cleanup import unfollow_cleanup as cleanup_flow

        if live:
            typer.echo(f"Approve each batch in the Prefect UI: {api_url.removesuffix('/api')}")
        result = cleanup_flow(params)
        typer.echo(f"unfollowed {result.count('unfollowed')}: {result.stopped}")


@app.command()
def report(
    account: Annotated[str, typer.Argument(help="Username or id of a snapshotted account.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the page.")] = None,
) -> None:
    """Write a self-contained HTML report for ACCOUNT: counts over time, events, actions."""
    from followflow.report import write_account_report

    settings = settings_or_exit()
    target = out or Path(f"followflow-report-{account.lstrip('@')}.html")
    try:
        path = write_account_report(settings, account, target)
    except Exception as error:  # noqa: BLE001 - one clear line, whatever failed
        message, code = describe(error)
        fail(message, code)
    typer.echo(f"wrote {path} (open it in a browser; it needs no network)")


@app.command()
def serve() -> None:
    """Serve the deployments (snapshots every 6 h, daily follow-back) in one process.

    Needs a Prefect server (`prefect server start`, then PREFECT_API_URL) so the runs,
    schedules and UI outlive this process. Stop with Ctrl-C; schedules are not paused.
    """
    from deployments.serve import main as serve_main

    settings_or_exit()
    serve_main()


def parse(model: type[ParamsT], **values: object) -> ParamsT:
    """Validate flow parameters before anything starts; bad values exit 2 with one line."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        message, code = describe(error)
        fail(message, code)


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


@db_app.command("status")
def db_status() -> None:
    """Show the backend, where the store is (password masked), its schema and row counts."""
    from followflow.store.status import store_status

    settings = settings_or_exit()
    try:
        status = store_status(settings.store)
    except Exception as error:  # noqa: BLE001 - one clear line, whatever failed
        message, code = describe(error)
        fail(message, code)
    for line in status.lines():
        typer.echo(line)


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="PostgreSQL URL to copy into (postgresql://user:password@host:port/db).",
            show_default=False,
        ),
    ],
    replace: Annotated[
        bool, typer.Option(help="Overwrite a target that already holds another store.")
    ] = False,
) -> None:
    """Copy the DuckDB file at FOLLOWFLOW_DB_PATH (history and ledger) into PostgreSQL.

    Safe to run again after it was stopped; it ends by comparing both stores.
    """
    from followflow.store.copy import copy_store, source_rows
    from followflow.store.location import PostgresUrl, mask_url

    settings = settings_or_exit()
    try:
        target = load_settings(database_url=to).store
    except SettingsError:
        fail(f"--to {mask_url(to)}: not a postgresql:// URL; give the PostgreSQL store's URL", 2)
    assert isinstance(target, PostgresUrl)
    try:
        total = source_rows(settings.db_path)
        with typer.progressbar(length=total, label="copying", file=None) as bar:
            result = copy_store(
                settings.db_path, target, replace=replace, on_rows=lambda _, n: bar.update(n)
            )
    except Exception as error:  # noqa: BLE001 - one clear line, whatever failed
        message, code = describe(error)
        fail(message, code)
    typer.echo(
        f"copied {sum(result.rows.values()):,} rows into {target.masked}; "
        "row counts and current views match"
    )


def main() -> None:
    """Run the command; a bad option or argument gets one error line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("followflow: error: aborted", err=True)
        raise SystemExit(1) from None
    except typer.TyperException as error:  # click's usage errors (typer vendors click)
        if type(error).__name__ == "NoArgsIsHelpError":
            getattr(error, "show")()  # noqa: B009 - no arguments at all: the help is the answer
        else:
            ctx = getattr(error, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"followflow: error: {error.format_message()}{where}", err=True)
        raise SystemExit(getattr(error, "exit_code", 2)) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
