"""The report's queries: small typed rows read from the public schema (DESIGN.md 3).

Only the public names are read (`users`, `snapshots`, `follower_events`, `actions`,
`budget_state`), so the store may change its internals without breaking the report.
Every time comes back as an aware UTC datetime, whatever the connection's TimeZone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from followflow.store.dialect import Connection

BUDGET_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Account:
    """Who the report is about; username and name are None when the profile is unknown."""

    account_id: int
    username: str | None
    name: str | None

    @property
    def label(self) -> str:
        """'@username' when known, else 'account <id>'."""
        return f"@{self.username}" if self.username else f"account {self.account_id}"


@dataclass(frozen=True)
class CountPoint:
    """How many users a complete snapshot saw, and when it finished."""

    snapshot_id: int
    kind: str  # 'followers' | 'following'
    at: datetime
    users_seen: int


@dataclass(frozen=True)
class SnapshotChange:
    """Followers gained and lost by one complete followers snapshot, lost split by reason."""

    snapshot_id: int
    at: datetime
    mode: str
    users_seen: int
    gained: int
    lost: int
    lost_unfollowed: int
    lost_suspended: int
    lost_deactivated: int
    baseline: bool  # the first complete full snapshot: nothing to compare with, no events


@dataclass(frozen=True)
class ActionDay:
    """Campaign actions of one UTC day, one action and one outcome."""

    day: date
    action: str  # 'follow' | 'unfollow'
    outcome: str  # X's outcome, the error class, or 'reserved' while in flight
    count: int


@dataclass(frozen=True)
class BudgetUse:
    """Rolling-24-hour use of one budget, counted as the ledger does (reserved + done)."""

    label: str
    scope: str  # 'account' | 'app'
    action: str
    used: int
    limit: int

    @property
    def left(self) -> int:
        """What may still be spent in this window (never negative)."""
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class BudgetPark:
    """X said (a 24-hour-cap 429) that a budget is spent: no actions until reset_at."""

    app_id: str
    account_id: int | None
    action: str
    reset_at: datetime
    source: str | None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def account(con: Connection, account_id: int) -> Account:
    """The account's profile from `users`, or an Account with only the id."""
    row = con.execute("SELECT username, name FROM users WHERE user_id = ?", [account_id]).fetchone()
    if row is None:
        return Account(account_id, None, None)
    return Account(account_id, row[0], row[1])


def resolve_account(con: Connection, account: str) -> int | None:
    """The account id for a numeric id or a username (with or without '@'); None if unknown."""
    text = account.strip().removeprefix("@")
    if text.isdigit():
        return int(text)
    row = con.execute(
        "SELECT user_id FROM users WHERE lower(username) = lower(?) ORDER BY updated_at DESC",
        [text],
    ).fetchone()
    return None if row is None else int(row[0])


def count_series(con: Connection, account_id: int) -> list[CountPoint]:
    """users_seen of every complete full snapshot of the account, oldest first.

    Head snapshots are left out: they read only the newest page or two, so their users_seen
    is not the list's size.
    """
    rows = con.execute(
        """
        SELECT snapshot_id, kind, finished_at, users_seen FROM snapshots
        WHERE account_id = ? AND status = 'complete' AND mode = 'full'
          AND finished_at IS NOT NULL
        ORDER BY finished_at, snapshot_id
        """,
        [account_id],
    ).fetchall()
    return [CountPoint(int(sid), str(kind), _utc(at), int(seen)) for sid, kind, at, seen in rows]


def snapshot_changes(con: Connection, account_id: int) -> list[SnapshotChange]:
    """Gained and lost followers per complete followers snapshot, oldest first.

    Counted from `follower_events` (the history itself) rather than the snapshot's own
    gained/lost columns; a snapshot without events shows zeros.
    """
    rows = con.execute(
        """
        WITH ev AS (
            SELECT snapshot_id,
                   count(*) FILTER (WHERE event = 'gained') AS gained,
                   count(*) FILTER (WHERE event = 'lost') AS lost,
                   count(*) FILTER (WHERE event = 'lost' AND reason = 'unfollowed') AS unf,
                   count(*) FILTER (WHERE event = 'lost' AND reason = 'suspended') AS sus,
                   count(*) FILTER (WHERE event = 'lost' AND reason = 'deactivated') AS dea
            FROM follower_events WHERE account_id = ? GROUP BY snapshot_id
        )
        SELECT s.snapshot_id, s.finished_at, s.mode, s.users_seen,
               coalesce(ev.gained, 0), coalesce(ev.lost, 0),
               coalesce(ev.unf, 0), coalesce(ev.sus, 0), coalesce(ev.dea, 0)
        FROM snapshots s LEFT JOIN ev USING (snapshot_id)
        WHERE s.account_id = ? AND s.kind = 'followers' AND s.status = 'complete'
          AND s.finished_at IS NOT NULL
        ORDER BY s.finished_at, s.snapshot_id
        """,
        [account_id, account_id],
    ).fetchall()
    baseline_id = next((int(r[0]) for r in rows if r[2] == "full"), None)
    return [
        SnapshotChange(
            snapshot_id=int(r[0]),
            at=_utc(r[1]),
            mode=str(r[2]),
            users_seen=int(r[3]),
            gained=int(r[4]),
            lost=int(r[5]),
            lost_unfollowed=int(r[6]),
            lost_suspended=int(r[7]),
            lost_deactivated=int(r[8]),
            baseline=int(r[0]) == baseline_id,
        )
        for r in rows
    ]


def actions_per_day(con: Connection, account_id: int) -> list[ActionDay]:
    """The account's campaign actions per UTC day, action and outcome, oldest day first."""
    rows = con.execute(
        """
        SELECT CAST(timezone('UTC', coalesce(completed_at, reserved_at)) AS DATE) AS day,
               action,
               CASE WHEN status = 'reserved' THEN 'reserved'
                    ELSE coalesce(outcome, status) END AS outcome,
               count(*)
        FROM actions WHERE account_id = ?
        GROUP BY day, action, 3 ORDER BY day, action, outcome
        """,
        [account_id],
    ).fetchall()
    return [ActionDay(day, str(action), str(outcome), int(n)) for day, action, outcome, n in rows]


def app_of(con: Connection, account_id: int) -> str | None:
    """The app the account's latest action went through, None before any action."""
    row = con.execute(
        "SELECT app_id FROM actions WHERE account_id = ? ORDER BY reserved_at DESC LIMIT 1",
        [account_id],
    ).fetchone()
    return None if row is None else str(row[0])


def budget_use(
    con: Connection,
    account_id: int,
    *,
    now: datetime,
    budgets: tuple[int, int, int],
    app_id: str | None = None,
) -> list[BudgetUse]:
    """Use of the three X budgets over the 24 hours before `now`.

    `budgets` is (follows per account, follows per app, unfollows per app), X's caps by
    default elsewhere. Counted as the ledger counts (followflow.campaigns.ledger): a reserved
    row counts, since it may have reached X, and a row's time is when it completed, else
    when it was reserved. The per-account cap counts the account's follows through any app.
    """
    follow_user, follow_app, unfollow_app = budgets
    app = app_id if app_id is not None else app_of(con, account_id)
    row = con.execute(
        """
        SELECT
            count(*) FILTER (WHERE account_id = ? AND action = 'follow'),
            count(*) FILTER (WHERE app_id = ? AND action = 'follow'),
            count(*) FILTER (WHERE app_id = ? AND action = 'unfollow')
        FROM actions
        WHERE status IN ('reserved', 'done') AND coalesce(completed_at, reserved_at) > ?
        """,
        [account_id, app, app, now - BUDGET_WINDOW],
    ).fetchone()
    used_user, used_app, used_unfollow = (0, 0, 0) if row is None else row
    return [
        BudgetUse("Follows by this account", "account", "follow", int(used_user), follow_user),
        BudgetUse("Follows by the app", "app", "follow", int(used_app), follow_app),
        BudgetUse("Unfollows by the app", "app", "unfollow", int(used_unfollow), unfollow_app),
    ]


def budget_parks(
    con: Connection, account_id: int, *, now: datetime, app_id: str | None
) -> list[BudgetPark]:
    """Budgets X reported spent, still parked at `now`: the account's, and its app's caps.

    With `app_id` None (no action yet, so the app is unknown) every app-wide park is shown.
    """
    rows = con.execute(
        """
        SELECT app_id, account_id, action, reset_at, source FROM budget_state
        WHERE reset_at > ?
          AND (account_id = ? OR (account_id IS NULL AND (CAST(? AS VARCHAR) IS NULL
                                                          OR app_id = ?)))
        ORDER BY reset_at, action
        """,
        [now, account_id, app_id, app_id],
    ).fetchall()
    return [
        BudgetPark(str(app), None if acc is None else int(acc), str(act), _utc(reset), src)
        for app, acc, act, reset, src in rows
    ]


@dataclass(frozen=True)
class ReportData:
    """Everything the page and the markdown summary show, read in one go."""

    account: Account
    now: datetime
    counts: list[CountPoint]
    changes: list[SnapshotChange]
    actions: list[ActionDay]
    app_id: str | None
    budgets: list[BudgetUse]
    parks: list[BudgetPark]

    def latest(self, kind: str) -> CountPoint | None:
        """The newest complete snapshot of `kind`, if any."""
        points = [p for p in self.counts if p.kind == kind]
        return points[-1] if points else None


def load(
    con: Connection,
    account_id: int,
    *,
    now: datetime,
    budgets: tuple[int, int, int],
) -> ReportData:
    """Read everything the report shows for `account_id` as of `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    app_id = app_of(con, account_id)
    return ReportData(
        account=account(con, account_id),
        now=now,
        counts=count_series(con, account_id),
        changes=snapshot_changes(con, account_id),
        actions=actions_per_day(con, account_id),
        app_id=app_id,
        budgets=budget_use(con, account_id, now=now, budgets=budgets, app_id=app_id),
        parks=budget_parks(con, account_id, now=now, app_id=app_id),
    )
