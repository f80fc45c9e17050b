"""Connection policy against real processes: lock retries, clear errors, readers get in."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from followflow.store import snapshots
from followflow.store.connection import connect
from followflow.store.errors import DatabaseLocked, DatabaseUnreadable, StoreBusy
from tests.store.helpers import profiles

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""

READER = """
import sys
from followflow.store.connection import connect
with connect(sys.argv[1], read_only=True, lock_timeout_s=20) as con:
    print(con.execute("SELECT count(*) FROM snapshot_staging").fetchall()[0][0], flush=True)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the database file for about 2 s."""
    db = tmp_path / "ff.duckdb"
    with connect(db):
        pass  # create and migrate it first
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), "2"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    yield db, proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_open_waits_for_another_process_to_let_go(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    db, proc = holder
    started = time.monotonic()
    with connect(db, lock_timeout_s=20) as con:
        assert con.execute("SELECT count(*) FROM snapshots").fetchall() == [(0,)]
    assert time.monotonic() - started > 0.5
    assert proc.wait(timeout=5) == 0


def test_a_lock_that_persists_names_the_process(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    db, proc = holder
    started = time.monotonic()
    with pytest.raises(DatabaseLocked) as caught:
        with connect(db, lock_timeout_s=0.3):
            pass
    assert time.monotonic() - started < 1.5
    error = caught.value
    assert error.pid == proc.pid
    assert f"PID {proc.pid}" in str(error) and "FOLLOWFLOW_DB_LOCK_TIMEOUT_S" in str(error)
    assert "\n" not in str(error)


def test_backoff_is_bounded_and_jittered(holder: tuple[Path, subprocess.Popen[str]]) -> None:
    db, _ = holder
    sleeps: list[float] = []
    clock = [0.0]

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    with pytest.raises(DatabaseLocked):
        with connect(db, lock_timeout_s=5, sleep=fake_sleep, clock=lambda: clock[0]):
            pass
    assert 5 <= sum(sleeps) <= 5.01
    assert max(sleeps) <= 0.5 and len(set(sleeps)) > 5


def test_a_file_that_is_not_a_database_is_unreadable(tmp_path: Path) -> None:
    db = tmp_path / "garbage.duckdb"
    db.write_bytes(os.urandom(20_000))
    with pytest.raises(DatabaseUnreadable, match="not a valid DuckDB database"):
        with connect(db):
            pass
    with pytest.raises(DatabaseUnreadable, match="does not exist"):
        with connect(tmp_path / "missing.duckdb", read_only=True):
            pass


def test_a_read_only_process_gets_in_between_writes(tmp_path: Path) -> None:
    db = tmp_path / "ff.duckdb"
    cp = snapshots.start_or_resume(db, 1, "followers")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    pages = 0
    deadline = time.monotonic() + 30
    while reader.poll() is None and time.monotonic() < deadline:
        snapshots.stage_page(
            db, cp.snapshot_id, profiles(range(pages * 100, pages * 100 + 100)), f"t{pages}"
        )
        pages += 1
        time.sleep(0.02)  # the next HTTP request: the writer holds nothing meanwhile
    # The writer kept writing until the reader was done: it got in between two pages. How
    # long it waited depends on the machine's load (7.5 s was seen at load 14), so it is
    # not asserted; the reader's lock timeout (20 s) bounds it.
    assert time.monotonic() < deadline, "the reader did not get in within 30 s of writes"
    out, _ = reader.communicate(timeout=10)
    assert reader.returncode == 0 and out.strip().isdigit()
    assert pages >= 2  # it got in while pages were being written
    assert snapshots.checkpoint(db, cp.snapshot_id).pages_done == pages


def test_threads_writing_one_file_do_not_conflict(tmp_path: Path) -> None:
    db = tmp_path / "ff.duckdb"
    cps = [snapshots.start_or_resume(db, account, "followers") for account in (1, 2, 3)]
    errors: list[BaseException] = []

    def stage(snapshot_id: int) -> None:
        try:
            for n in range(10):  # the same users on every account: upserts overlap
                snapshots.stage_page(db, snapshot_id, profiles(range(n * 50, n * 50 + 50)), "t")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=stage, args=(cp.snapshot_id,)) for cp in cps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [snapshots.checkpoint(db, cp.snapshot_id).users_seen for cp in cps] == [500] * 3


STAGER = """
import sys
from followflow.store import snapshots
db = sys.argv[1]
cp = snapshots.start_or_resume(db, 1, "followers")
print("started", flush=True)
page = cp.pages_done
while True:
    page += 1
    snapshots.stage_page(db, cp.snapshot_id, list(range(page * 100, page * 100 + 100)), f"t{page}")
"""


def test_sigkill_mid_snapshot_loses_at_most_the_page_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "ff.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.3, 0.45):
        proc = subprocess.Popen(
            [sys.executable, "-c", STAGER, str(db)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(delay)
        proc.kill()  # SIGKILL: no cleanup, no detach, no checkpoint
        proc.wait()
        proc.stdout.close()
        cp = snapshots.start_or_resume(db, 1, "followers")
        assert cp.resumed and cp.pages_done > 0
        with connect(db) as con:
            staged = con.execute(
                "SELECT count(*), count(DISTINCT user_id), max(page_no) FROM snapshot_staging"
            ).fetchall()
        assert staged == [(cp.pages_done * 100, cp.pages_done * 100, cp.pages_done)]
        assert cp.users_seen == cp.pages_done * 100 and cp.next_token == f"t{cp.pages_done}"


def test_a_unit_of_work_that_finds_every_connection_busy_says_so(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not 'start the server': the server answers, this process's connections are all taken."""
    from pydantic import SecretStr

    from followflow.store import postgres
    from followflow.store.location import PostgresUrl

    monkeypatch.setattr(postgres, "CONNECT_TIMEOUT_S", 1)  # read when the pool is made
    store = PostgresUrl(SecretStr(postgres_url))
    holding = threading.Barrier(postgres.POOL_MAX_CONNECTIONS + 1)
    release = threading.Event()

    def hold_one() -> None:
        with connect(store):
            holding.wait(timeout=30)
            release.wait(timeout=30)

    threads = [threading.Thread(target=hold_one) for _ in range(postgres.POOL_MAX_CONNECTIONS)]
    for thread in threads:
        thread.start()
    try:
        holding.wait(timeout=30)
        with pytest.raises(StoreBusy) as raised:
            with connect(store):
                pass
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)
        postgres.close_pools()
    message = str(raised.value)
    assert f"all {postgres.POOL_MAX_CONNECTIONS} connections" in message
    assert "run the same command again" in message and "\n" not in message
    assert "ff-test-password" not in message
