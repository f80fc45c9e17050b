"""What every command that runs a flow needs: a Prefect API, quiet logs, one-line errors.

Kept apart from `cli.py` so the command definitions read as a list of commands. Flows are
imported only inside `flow_session`, after the Prefect API is chosen, because Prefect
reads its settings when it is first imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from followflow import progress
from followflow.heartbeats import heartbeats_only_when_asked
from followflow.prefect_server import PrefectServerError, prefect_api


class CommandError(Exception):
    """A failure already phrased for the user: one line, what went wrong and what to do."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def describe(error: BaseException) -> tuple[str, int]:
    """One line and an exit code for any failure a user can cause or meet."""
    from followflow.settings import SettingsError
    from followflow.store.errors import StoreError
    from followflow.xapi.errors import Unauthorized, XAPIError

    if isinstance(error, CommandError):
        return str(error), error.code
    if isinstance(error, SettingsError):
        return str(error), 2
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "parameters"
        return f"{where}: {first['msg']}", 2
    if isinstance(error, Unauthorized) and "followflow auth login" not in str(error):
        return (
            f"{_first_line(error)}: X refused the credentials; check FOLLOWFLOW_BEARER_TOKEN "
            "and FOLLOWFLOW_ACCESS_TOKEN/_SECRET, or run `followflow auth login`",
            1,
        )
    if isinstance(error, StoreError | XAPIError):
        return _first_line(error), 1
    if isinstance(error, PrefectServerError):
        return f"{error}; or set PREFECT_API_URL to a running Prefect server", 1
    name = type(error).__name__
    if name in {"SnapshotFailed", "AccountError", "UnknownAccount"}:
        return _first_line(error), 1
    if "Failed to reach API at" in str(error):
        return (
            f"{_first_line(error)}: start that Prefect server, or unset PREFECT_API_URL "
            "and followflow starts one",
            1,
        )
    # Whatever else: still one line (a multi-line message would hide the error line).
    return f"{name}: {_first_line(error)}", 1


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def flow_session(verbose: bool = False) -> Iterator[str]:
    """A Prefect API for this command (configured, or a local server we start) and quiet logs.

    Yields the API URL. Any failure inside ends the command with one line and a non-zero
    exit code.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Run logs still reach the API and the UI; the terminal gets the progress bars and
    # one line per outcome, not Prefect's INFO lines or a failing run's traceback.
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    try:
        with prefect_api() as api_url, heartbeats_only_when_asked():
            try:
                yield api_url
            finally:
                _flush_logs()
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 - turned into one clear line below
        message, code = describe(error)
        typer.echo(f"followflow: error: {message}", err=True)
        raise typer.Exit(code) from None


def _flush_logs() -> None:
    """Send queued run logs while the API is still up (a local server stops right after)."""
    from prefect.logging.handlers import APILogHandler

    try:
        APILogHandler().flush()
    except Exception:  # noqa: BLE001 - losing a log line must not fail the command
        pass


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[None]:
    """Draw a progress bar per listing while flows report pages read."""
    if not enabled or not sys.stderr.isatty():
        with progress.listening(_log_line):
            yield
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        TimeRemainingColumn(),
        transient=False,
    )
    tasks: dict[tuple[str, str], TaskID] = {}

    def draw(update: progress.Progress) -> None:
        key = (update.account, update.kind)
        if key not in tasks:
            tasks[key] = bars.add_task(f"@{update.account} {update.kind}", total=None)
        bars.update(tasks[key], completed=update.pages_done, total=update.pages_expected)

    with bars, progress.listening(draw):
        yield


def _log_line(update: progress.Progress) -> None:
    if update.finished:
        typer.echo(
            f"@{update.account} {update.kind}: {update.users_seen:,} users in "
            f"{update.pages_done} pages",
            err=True,
        )
