"""The action ledger on real DuckDB files: budgets, rolling window, parks, idempotency, crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from followflow.campaigns.budgets import Budgets, as_utc
from followflow.campaigns.ledger import (
    RETRYABLE,
    AlreadyDone,
    AlreadyReserved,
    Reservation,
    complete,
    reserve,
    resolve_from_following,
    unresolved,
)
from followflow.campaigns.ledger_sql import LedgerError
from followflow.campaigns.planner import plan_follow_back
from followflow.campaigns.spending import BudgetExhausted, budget_status, park
from followflow.settings import Settings
from followflow.store.connection import DbPath
from followflow.store.dialect import WRITE_CONFLICTS, Connection
from tests.campaigns.world import ACCOUNT, T0, db, fill, profile, profiles, snapshot
from tests.store.helpers import store_env

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUDGETS = Budgets()


@pytest.fixture
def con(store: DbPath) -> Iterator[Connection]:
    with db(store) as c:
        yield c


def take(
    con: Connection,
    target_id: int,
    *,
    at: object = T0,
    action: str = "follow",
    account_id: int = ACCOUNT,
    app_id: str = "app",
    budgets: Budgets = BUDGETS,
) -> Reservation | BudgetExhausted:
    return reserve(
        con,
        app_id=app_id,
        account_id=account_id,
        action=action,  # type: ignore[arg-type]
        target_id=target_id,
        run_id="run-1",
        now=at,  # type: ignore[arg-type]
        budgets=budgets,
    )


def test_budgets_from_settings(settings: Settings) -> None:
    low = settings.model_copy(update={"follow_budget_per_user": 12, "unfollow_budget_per_app": 3})
    budgets = Budgets.from_settings(low, window_s=600)
    assert budgets == Budgets(12, 1000, 3, 600.0)
    assert Budgets.from_settings(settings) == Budgets(400, 1000, 500, 86_400.0)
    with pytest.raises(ValueError):
        Budgets(follow_budget_per_user=-1)


def test_400_follows_per_user_then_exhausted(con: Connection) -> None:
    for i in range(400):
        r = take(con, i, at=T0 + i * timedelta(seconds=1))
        assert isinstance(r, Reservation)
    refused = take(con, 400, at=T0 + HOUR)
    assert refused == BudgetExhausted("follow", "user", 400, 400, T0 + DAY)
    # Another account of the same app still has its own 400.
    assert isinstance(take(con, 400, at=T0 + HOUR, account_id=2), Reservation)
    keys = con.execute("SELECT count(DISTINCT idempotency_key) FROM actions").fetchall()
    assert keys == [(401,)]


def test_1000_follows_per_app(con: Connection) -> None:
    fill(con, 400, account_id=1)
    fill(con, 400, account_id=2, first_target=20_000_000)
    fill(con, 199, account_id=3, first_target=30_000_000)
    assert isinstance(take(con, 1, account_id=3, at=T0 + HOUR), Reservation)  # the 1,000th
    refused = take(con, 2, account_id=4, at=T0 + HOUR)
    assert isinstance(refused, BudgetExhausted)
    assert (refused.scope, refused.used, refused.limit) == ("app", 1000, 1000)
    assert refused.reset_at == T0 + DAY
    # Another app has its own 1,000, but account 1's 400 are X's per-user cap on any app.
    assert isinstance(take(con, 2, account_id=4, app_id="other", at=T0 + HOUR), Reservation)
    refused = take(con, 2, account_id=1, app_id="other", at=T0 + HOUR)
    assert isinstance(refused, BudgetExhausted) and refused.scope == "user"


def test_500_unfollows_per_app_independent_of_follows(con: Connection) -> None:
    fill(con, 499, action="unfollow")
    fill(con, 400, account_id=2, first_target=20_000_000)
    assert isinstance(take(con, 1, action="unfollow", account_id=2, at=T0 + HOUR), Reservation)
    refused = take(con, 2, action="unfollow", account_id=3, at=T0 + HOUR)
    assert isinstance(refused, BudgetExhausted)
    assert (refused.action, refused.scope, refused.used, refused.limit) == (
        "unfollow",
        "app",
        500,
        500,
    )
    assert isinstance(take(con, 2, account_id=3, at=T0 + HOUR), Reservation)  # follows unaffected


def test_lower_configured_budgets_apply(con: Connection) -> None:
    small = Budgets(follow_budget_per_user=2, follow_budget_per_app=3)
    assert isinstance(take(con, 1, budgets=small), Reservation)
    assert isinstance(take(con, 2, budgets=small), Reservation)
    assert isinstance(take(con, 3, budgets=small), BudgetExhausted)
    assert isinstance(take(con, 3, account_id=2, budgets=small), Reservation)
    refused = take(con, 4, account_id=3, budgets=small)
    assert isinstance(refused, BudgetExhausted) and refused.scope == "app"
    zero = take(con, 5, budgets=Budgets(follow_budget_per_user=0), account_id=9)
    assert zero == BudgetExhausted("follow", "user", 0, 0, None)


def test_rolling_window_frees_budget_as_rows_age_out(con: Connection) -> None:
    fill(con, 200, at=T0)
    fill(con, 200, at=T0 + 2 * HOUR, first_target=20_000_000)
    assert isinstance(take(con, 1, at=T0 + DAY - US), BudgetExhausted)
    first = take(con, 1, at=T0 + DAY)  # the 200 from T0 aged out exactly now
    assert isinstance(first, Reservation)
    assert first.reserved_at == T0 + DAY
    fill(con, 199, at=T0 + DAY + US, first_target=30_000_000)
    refused = take(con, 2, at=T0 + DAY + HOUR)
    assert isinstance(refused, BudgetExhausted)
    assert refused.reset_at == T0 + 2 * HOUR + DAY  # when the next block ages out


def test_window_counts_reserved_and_done_not_failed(con: Connection) -> None:
    small = Budgets(follow_budget_per_user=3)
    a = take(con, 1, budgets=small)
    b = take(con, 2, budgets=small)
    c = take(con, 3, budgets=small)
    assert isinstance(a, Reservation) and isinstance(b, Reservation)
    assert isinstance(c, Reservation)
    assert isinstance(take(con, 4, budgets=small), BudgetExhausted)
    complete(con, a.action_id, "following", "done", T0 + HOUR)
    complete(con, b.action_id, "Forbidden", "failed", T0 + HOUR)
    # b's failure frees a slot; a counts from its completion (the request went out before).
    assert isinstance(take(con, 4, budgets=small, at=T0 + HOUR), Reservation)
    # At T0 + 1 day, c (reserved at T0) has aged out but a (done at T0 + 1 h) has not.
    assert isinstance(take(con, 5, budgets=small, at=T0 + DAY), Reservation)
    refused = take(con, 6, budgets=small, at=T0 + DAY)
    assert isinstance(refused, BudgetExhausted)
    assert refused.reset_at == T0 + HOUR + DAY


def test_times_as_epoch_seconds_and_naive_refused(con: Connection) -> None:
    r = take(con, 1, at=T0.timestamp())
    assert isinstance(r, Reservation) and r.reserved_at == T0
    with pytest.raises(ValueError, match="naive"):
        take(con, 2, at=T0.replace(tzinfo=None))


def test_park_is_honoured_until_reset(con: Connection) -> None:
    park(con, "app", ACCOUNT, "follow", T0 + 3 * HOUR, "x-user-limit-24hour", now=T0)
    refused = take(con, 1, at=T0 + HOUR)
    assert refused == BudgetExhausted(
        "follow", "parked", 0, 0, T0 + 3 * HOUR, "x-user-limit-24hour"
    )
    assert isinstance(take(con, 1, account_id=2, at=T0 + HOUR), Reservation)
    assert isinstance(take(con, 1, action="unfollow", at=T0 + HOUR), Reservation)
    # An earlier reset never shortens a park; a later one extends it.
    park(con, "app", ACCOUNT, "follow", T0 + 2 * HOUR, "x-user-limit-24hour", now=T0)
    assert isinstance(take(con, 2, at=T0 + 3 * HOUR - US), BudgetExhausted)
    assert isinstance(take(con, 2, at=T0 + 3 * HOUR), Reservation)
    rows = con.execute("SELECT count(*) FROM budget_state").fetchall()
    assert rows == [(1,)]


def test_app_wide_park_stops_every_account(con: Connection) -> None:
    park(con, "app", None, "follow", T0 + HOUR, "x-app-limit-24hour", now=T0)
    for account in (1, 2, 3):
        refused = take(con, 1, account_id=account)
        assert isinstance(refused, BudgetExhausted) and refused.scope == "parked"
    assert isinstance(take(con, 1, app_id="other"), Reservation)


def test_budget_status(con: Connection) -> None:
    empty = budget_status(con, "app", ACCOUNT, T0, BUDGETS)
    assert (empty.follows_left, empty.unfollows_left) == (400, 500)
    assert all(line.next_reset is None for line in empty.lines())
    fill(con, 10, at=T0)
    fill(con, 5, at=T0 + HOUR, account_id=2, first_target=20_000_000)
    fill(con, 7, action="unfollow", at=T0 + 2 * HOUR)
    status = budget_status(con, "app", ACCOUNT, T0 + 3 * HOUR, BUDGETS)
    assert (status.user_follows.used, status.user_follows.left) == (10, 390)
    assert (status.app_follows.used, status.app_follows.left) == (15, 985)
    assert status.follows_left == 390
    assert (status.app_unfollows.used, status.unfollows_left) == (7, 493)
    assert status.user_follows.next_reset == T0 + DAY
    assert status.app_unfollows.next_reset == T0 + 2 * HOUR + DAY
    park(con, "app", None, "unfollow", T0 + 5 * HOUR, "x-app-limit-24hour", now=T0)
    parked = budget_status(con, "app", ACCOUNT, T0 + 3 * HOUR, BUDGETS)
    assert parked.unfollows_left == 0
    assert parked.app_unfollows.next_reset == T0 + 5 * HOUR
    assert parked.follows_left == 390


def test_idempotency_key_prevents_double_reservation(con: Connection) -> None:
    first = take(con, 42)
    assert isinstance(first, Reservation)
    assert first.idempotency_key == f"follow:{ACCOUNT}:42:0"
    with pytest.raises(AlreadyReserved) as raised:
        take(con, 42, at=T0 + HOUR)
    assert raised.value.action_id == first.action_id
    # The key itself is unique in the table, whoever writes it.
    with pytest.raises(WRITE_CONFLICTS):
        con.execute(
            """INSERT INTO actions (idempotency_key, app_id, account_id, target_id, action,
                                   status, reserved_at)
               VALUES (?, 'app', 1, 42, 'follow', 'reserved', ?)""",
            [first.idempotency_key, T0],
        )
    complete(con, first.action_id, "RateLimited", "failed", T0 + HOUR, reason=RETRYABLE)
    second = take(con, 42, at=T0 + 2 * HOUR)
    assert isinstance(second, Reservation)
    assert second.idempotency_key == f"follow:{ACCOUNT}:42:1"
    complete(con, second.action_id, "pending_follow", "done", T0 + 2 * HOUR)
    with pytest.raises(AlreadyDone) as done:
        take(con, 42, at=T0 + 3 * HOUR)
    assert done.value.outcome == "pending_follow"
    with pytest.raises(LedgerError, match="not reserved"):
        complete(con, second.action_id, "following", "done", T0 + 3 * HOUR)
    with pytest.raises(ValueError):
        complete(con, second.action_id, "following", "reserved", T0)  # type: ignore[arg-type]


def test_threads_on_one_database_never_overspend(store: DbPath) -> None:
    path = store
    budgets = Budgets(follow_budget_per_user=1000, follow_budget_per_app=60)
    results: list[Reservation | BudgetExhausted] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def campaign(account_id: int) -> None:
        try:
            start.wait()
            for target in range(40):
                with db(path) as con:  # one unit of work per reservation, as a task does
                    results.append(take(con, target, account_id=account_id, budgets=budgets))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=campaign, args=(a,)) for a in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db(path) as con:
        total = con.execute("SELECT count(*) FROM actions").fetchall()[0][0]
    assert total == 60
    assert sum(isinstance(r, Reservation) for r in results) == 60


CRASHER = """
import os, sys
from datetime import datetime, UTC
from followflow.campaigns.budgets import Budgets
from followflow.campaigns.ledger import reserve, complete
from followflow.settings import get_settings
from followflow.store.connection import connect

with connect(get_settings().store, lock_timeout_s=10) as con:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    done = reserve(con, app_id="app", account_id=1, action="follow", target_id=5,
                   run_id="crashing", now=now, budgets=Budgets())
    complete(con, done.action_id, "following", "done", now)
    for target in (6, 7):
        reserve(con, app_id="app", account_id=1, action="follow", target_id=target,
                run_id="crashing", now=now, budgets=Budgets())
    # The follows are "sent" and the process dies before recording the outcomes.
    os.kill(os.getpid(), 9)
"""


def test_unresolved_rows_after_a_crash_are_resolved_from_following(store: DbPath) -> None:
    path = store
    with db(path) as con:
        snapshot(con, "followers", profiles(profile(i) for i in (5, 6, 7, 8)))
        snapshot(con, "following", [])
    proc = subprocess.run(
        [sys.executable, "-c", CRASHER],
        env=store_env(path),
        capture_output=True,
        cwd=Path(__file__).parents[2],
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with db(path) as con:
        left = unresolved(con, ACCOUNT)
        assert [r.target_id for r in left] == [6, 7]
        assert all(r.run_id == "crashing" for r in left)
        assert unresolved(con, account_id=2) == []
        plan = plan_follow_back(con, ACCOUNT, now=T0)
        assert plan.target_ids == (8,)  # nothing in flight is planned again
        assert plan.reason_of(6) == "in_flight"
        # X shows 6 as followed; 7 never landed.
        assert resolve_from_following(con, left[0].action_id, True, False, T0 + HOUR) == (
            "following"
        )
        assert resolve_from_following(con, left[1].action_id, False, False, T0 + HOUR) == (
            "not_following"
        )
        assert unresolved(con, ACCOUNT) == []
        with pytest.raises(LedgerError):
            resolve_from_following(con, left[0].action_id, True, False, T0 + HOUR)
        plan = plan_follow_back(con, ACCOUNT, now=T0 + HOUR)
        assert plan.target_ids == (8, 7)
        assert plan.reason_of(6) == "already_followed"
        again = take(con, 7, at=T0 + HOUR)
        assert isinstance(again, Reservation)
        assert again.idempotency_key == f"follow:{ACCOUNT}:7:1"
        with pytest.raises(AlreadyDone):
            take(con, 6, at=T0 + HOUR)


def test_resolving_unfollows_and_pending(con: Connection) -> None:
    ids = []
    for target, action in ((1, "follow"), (2, "unfollow"), (3, "unfollow")):
        r = take(con, target, action=action)
        assert isinstance(r, Reservation)
        ids.append(r.action_id)
    assert resolve_from_following(con, ids[0], False, True, T0) == "pending_follow"
    assert resolve_from_following(con, ids[1], False, False, T0) == "unfollowed"
    assert resolve_from_following(con, ids[2], True, False, T0) == "following"
    rows = con.execute(
        "SELECT target_id, status, outcome FROM actions ORDER BY target_id"
    ).fetchall()
    assert rows == [
        (1, "done", "pending_follow"),
        (2, "done", "unfollowed"),
        (3, "failed", "following"),
    ]
    assert as_utc(con.execute("SELECT max(completed_at) FROM actions").fetchall()[0][0]) == T0


ALTERNATOR = """
import sys, time
from datetime import datetime, UTC
from followflow.campaigns.budgets import Budgets
from followflow.campaigns.ledger import reserve, Reservation
from followflow.settings import get_settings
from followflow.store.connection import connect

path = get_settings().store
account, first = int(sys.argv[1]), int(sys.argv[2])
budgets = Budgets(follow_budget_per_user=400, follow_budget_per_app=int(sys.argv[3]))
now = datetime(2026, 1, 1, tzinfo=UTC)
got = 0
for target in range(first, first + 30):
    # One short unit of work per reservation: open, reserve, close (DuckDB is one process).
    with connect(path, lock_timeout_s=30) as con:
        r = reserve(con, app_id="app", account_id=account, action="follow",
                    target_id=target, run_id=f"p{account}", now=now, budgets=budgets)
    got += isinstance(r, Reservation)
    time.sleep(0.005)
print(got)
"""


def test_two_processes_alternating_never_exceed_the_budget(store: DbPath) -> None:
    path = store
    with db(path):
        pass  # migrated before the race, so both processes only reserve
    env = store_env(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ALTERNATOR, str(account), str(first), "37"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for account, first in ((1, 0), (2, 1000))
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    got = [int(out) for out, _ in outputs]
    assert sum(got) == 37
    assert all(g >= 37 - 30 for g in got)
    with db(path) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM actions"
        ).fetchall()
    assert rows == [(37, 37)]


def test_refuses_a_connection_inside_a_transaction(con: Connection) -> None:
    con.begin()
    with pytest.raises(LedgerError, match="own transaction"):
        take(con, 1)
    con.rollback()  # DuckDB aborts the caller's transaction on the failed BEGIN
    assert con.execute("SELECT count(*) FROM actions").fetchall() == [(0,)]
    assert isinstance(take(con, 1), Reservation)
