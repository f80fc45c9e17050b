"""The report: a self-contained HTML page and a markdown summary of one account.

html = build_report(con, account_id, now=datetime.now(UTC))
write_report(html, Path("report.html"))
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from followflow.report import data
from followflow.report.data import resolve_account
from followflow.report.html import render
from followflow.report.summary import render_markdown
from followflow.settings import Settings
from followflow.store.dialect import Connection

DEFAULT_BUDGETS = (400, 1000, 500)
"""X's caps: follows per account, follows per app, unfollows per app, per rolling 24 h."""

__all__ = [
    "DEFAULT_BUDGETS",
    "UnknownAccount",
    "build_report",
    "resolve_account",
    "summary_markdown",
    "write_account_report",
    "write_report",
]


def build_report(
    con: Connection,
    account_id: int,
    *,
    now: datetime,
    budgets: tuple[int, int, int] = DEFAULT_BUDGETS,
) -> str:
    """The HTML page for `account_id` as of `now` (an aware datetime).

    `budgets` is (follows per account, follows per app, unfollows per app) per rolling 24 h.
    """
    return render(data.load(con, account_id, now=now, budgets=budgets))


def summary_markdown(
    con: Connection,
    account_id: int,
    *,
    now: datetime,
    budgets: tuple[int, int, int] = DEFAULT_BUDGETS,
) -> str:
    """The same report as short markdown, for a Prefect markdown artifact."""
    return render_markdown(data.load(con, account_id, now=now, budgets=budgets))


def write_report(html: str, path: Path) -> Path:
    """Write `html` to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates 0600; a report is meant to be opened and shared like any file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class UnknownAccount(Exception):
    """The report was asked for an account the database has never snapshotted."""


def write_account_report(settings: Settings, account: str, path: Path) -> Path:
    """Build and write the report of `account` (username or id) from the settings' database."""
    from datetime import UTC

    from followflow.store.connection import connect

    budgets = (
        settings.follow_budget_per_user,
        settings.follow_budget_per_app,
        settings.unfollow_budget_per_app,
    )
    with connect(settings.store, read_only=True) as con:
        account_id = resolve_account(con, account)
        if account_id is None:
            raise UnknownAccount(
                f"{account}: not in {settings.store}; run `followflow snapshot {account}` first"
            )
        html = build_report(con, account_id, now=datetime.now(UTC), budgets=budgets)
    return write_report(html, path)
