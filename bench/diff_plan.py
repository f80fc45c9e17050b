"""Benchmark: diff of a snapshot against the edge history, and campaign planning.

    uv run python bench/diff_plan.py                      # 1M x 1M and 10M x 10M, 3 runs
    uv run python bench/diff_plan.py --sizes 1000000 --runs 5
    uv run python bench/diff_plan.py --sizes 1000000 --postgres --section diff   # + PostgreSQL
    uv run python bench/diff_plan.py --sizes 1000000 --postgres --stale --section plan

Section "diff": each run builds a fresh DuckDB file holding a baseline of N open follower
edges (applied by `complete()` itself), stages a second snapshot of N ids with `--churn`
of them replaced (1% gained, 1% lost by default), and times `complete()`: the anti-join
diff, closing lost intervals, opening gained ones, bumping last_seen, events, clearing the
staging, in one transaction. Staging is bulk-inserted here (one statement) so the figure is
complete() alone; "stage_page" times the real per-page path separately: one transaction
appending 1,000 ids and upserting 1,000 profiles into a table of N users.

Section "plan": the four plans of one world of N followers x N following, timed on a
DuckDB file and (`--postgres`) on PostgreSQL vacuumed and analyzed as autovacuum would;
`--stale` adds a PostgreSQL store whose statistics predate its bulk writes.

Figures are medians of the runs. Targets for 1M x 1M: under 1 s on the DuckDB file
(DESIGN.md 5), under 2 s on PostgreSQL (issue 12).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
from _harness import machine_note, postgres_cluster, postgres_cpu_s
from pydantic import SecretStr

from followflow.store import snapshots
from followflow.store.connection import DbPath, connect, transaction
from followflow.store.location import PostgresUrl
from followflow.store.records import SnapshotDiff
from followflow.store.snapshot_rows import insert_snapshot
from followflow.store.staging import stage_rows

ACCOUNT = 1
# Snowflake-like positive BIGINT ids, deterministic per index.
ID_SQL = "(hash(i) >> 2)::BIGINT"


# The same staging on PostgreSQL (its own hash of i, so other ids; the diff is the same).
ID_SQL_POSTGRES = "(hashint8extended(i, 0) & 4611686018427387903)"


def _stage_bulk(db: DbPath, snapshot_id: int, first: int, count: int) -> None:
    """Stage ids for indexes [first, first + count) as 1,000-id pages, in one statement."""
    with transaction(db) as con:
        if isinstance(db, PostgresUrl):
            con.execute(
                f"""INSERT INTO snapshot_staging
                    SELECT ?, ((i - ?) / 1000 + 1)::INTEGER, {ID_SQL_POSTGRES}
                    FROM generate_series(CAST(? AS BIGINT), CAST(? AS BIGINT)) t(i)""",
                [snapshot_id, first, first, first + count - 1],
            )
        else:
            con.execute(
                f"""INSERT INTO snapshot_staging
                    SELECT ?, ((i - ?) // 1000 + 1)::INTEGER, {ID_SQL}
                    FROM range(?, ?) t(i)""",
                [snapshot_id, first, first, first + count],
            )
        con.execute(
            "UPDATE snapshots SET pages = ?, users_seen = ? WHERE snapshot_id = ?",
            [(count + 999) // 1000, count, snapshot_id],
        )


def _as_autovacuum_would(db: PostgresUrl) -> None:
    """Vacuum and analyze the store, as autovacuum does in the hours between two snapshots.

    Without it the diff, seconds after a million-row baseline, is also the first reader of
    those rows: it sets their hint bits and plans from statistics taken before they existed.
    """
    with connect(db) as con:
        con.execute("VACUUM (ANALYZE)")


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def diff_run(
    n: int, churn: float, workdir: Path, postgres: PostgresUrl | None = None
) -> dict[str, float]:
    """One run: baseline of n, then a snapshot of n with `churn` replaced; times in seconds.

    `postgres`: a fresh PostgreSQL database to run on instead of a DuckDB file."""
    db: DbPath = postgres or workdir / f"diff-{n}-{time.monotonic_ns()}.duckdb"
    changed = int(n * churn)
    base = snapshots.start_or_resume(db, ACCOUNT, "followers", "full", n)
    _stage_bulk(db, base.snapshot_id, 0, n)
    baseline_s = _timed(lambda: snapshots.complete(db, base.snapshot_id))
    if isinstance(db, PostgresUrl):
        _as_autovacuum_would(db)
    # Current list: the first `changed` ids unfollowed, `changed` new ids followed.
    cur = snapshots.start_or_resume(db, ACCOUNT, "followers", "full", n)
    _stage_bulk(db, cur.snapshot_id, changed, n)
    result: list[SnapshotDiff] = []
    diff_s = _timed(lambda: result.append(snapshots.complete(db, cur.snapshot_id)))
    diff = result[0]
    assert diff.gained == changed and diff.lost == changed and diff.count == n, diff
    if isinstance(db, PostgresUrl):
        return {"baseline": baseline_s, "diff": diff_s, "stage_page": float("nan")}
    page_s = _stage_page_median(db, n) if n <= 1_000_000 else float("nan")
    for leftover in (db, db.with_name(db.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return {"baseline": baseline_s, "diff": diff_s, "stage_page": page_s}


def _stage_page_median(db: Path, n: int, pages: int = 50) -> float:
    """Median of stage_page() for 1,000-user pages with profiles, into a table of ~n users."""
    with transaction(db) as con:  # a users table as large as the list
        con.execute(
            f"""INSERT INTO users (user_id, username, name, followers_count, state, updated_at)
                SELECT {ID_SQL}, 'u' || i, 'Name ' || i, i % 5000, 'active', now()
                FROM range(0, ?) t(i)""",
            [n],
        )
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", "full", n)
    times = []
    for p in range(pages):
        ids = list(range(p * 1000, (p + 1) * 1000))
        page = pa.table(
            {
                "user_id": pa.array([10**15 + i for i in ids], pa.int64()),
                "username": [f"u{i}" for i in ids],
                "name": [f"Name {i}" for i in ids],
                "description": ["a follower's bio of a realistic length, some words" * 2] * 1000,
                "followers_count": pa.array(ids, pa.int64()),
                "following_count": pa.array(ids, pa.int64()),
                "protected": [False] * 1000,
            }
        )
        started = time.perf_counter()
        snapshots.stage_page(db, cp.snapshot_id, page, f"t{p}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def section_diff(args: argparse.Namespace) -> None:
    print(f"== diff: complete() of N staged followers against N open edges, churn {args.churn:.1%}")
    print(f"{'N':>12} {'baseline s':>11} {'diff s':>8} {'stage_page ms':>14}  (median of runs)")
    with tempfile.TemporaryDirectory(prefix="ff-bench-") as tmp:
        for n in args.sizes:
            runs = [diff_run(n, args.churn, Path(tmp)) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            verdict = "" if n != 1_000_000 else ("  OK < 1 s" if med["diff"] < 1 else "  SLOW")
            print(
                f"{n:>12,} {med['baseline']:>11.3f} {med['diff']:>8.3f} "
                f"{med['stage_page'] * 1000:>14.1f}{verdict}",
                flush=True,
            )
            if args.postgres:
                _diff_on_postgres(n, args)


def _diff_on_postgres(n: int, args: argparse.Namespace) -> None:
    """The same runs on a throwaway PostgreSQL cluster (tests/postgres.py), one database each."""
    from followflow.store.postgres import close_pools

    with postgres_cluster() as cluster:
        runs = []
        for run in range(args.runs):
            url = PostgresUrl(SecretStr(cluster.create_database(f"diff_{n}_{run}")))
            runs.append(diff_run(n, args.churn, Path(), url))
            close_pools()
        med = {k: statistics.median(r[k] for r in runs) for k in ("baseline", "diff")}
        verdict = "" if n != 1_000_000 else ("  OK < 2 s" if med["diff"] < 2 else "  SLOW")
        print(
            f"{'(postgres)':>12} {med['baseline']:>11.3f} {med['diff']:>8.3f}{verdict}", flush=True
        )


# --- section "plan": follow-back planning (owner: campaigns) ----------------------------


def _plan_world(db: DbPath, n: int, *, stale: bool = False) -> None:
    """Followers 1..n (n/100 of them new since a baseline), following n/2+1..n/2+n (half
    overlap), profiles for all 1.5 n users, and a ledger of 6,667 rows.

    `stale` (PostgreSQL): autovacuum off for the tables the planner reads, so their
    statistics stay those of the empty store, as in the minutes after a first snapshot."""
    from datetime import UTC, datetime, timedelta

    import duckdb

    from followflow.store import edges
    from followflow.store.connection import connect

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with connect(db, lock_timeout_s=60) as con:
        for table in ("follow_edges", "follow_events", "users", "actions") if stale else ():
            con.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        # The profiles are made by an in-memory DuckDB whichever store they go to.
        relation = duckdb.sql(
            f"""SELECT range::BIGINT AS user_id, 'user' || range AS username,
                   TIMESTAMPTZ '2020-01-01' + to_days((range % 2000)::INTEGER) AS created_at,
                   CASE range % 7 WHEN 0 THEN 'python and data' WHEN 1 THEN 'crypto NFT'
                        ELSE 'hello' END AS description,
                   range % 50 = 0 AS protected, range % 40 = 0 AS verified,
                   range % 9 = 0 AS default_profile_image,
                   (range * 7919 % 100000)::BIGINT AS followers_count,
                   (range * 104729 % 5000)::BIGINT AS following_count
               FROM range(1, {n // 2 + n + 1})"""
        )
        assert relation is not None
        everyone = relation.to_arrow_table()
        pages = [
            ("followers", everyone.slice(0, n - n // 100), t0 - timedelta(days=1)),
            ("followers", everyone.slice(0, n), t0),
            ("following", everyone.slice(n // 2, n).select(["user_id"]), t0 - timedelta(days=30)),
        ]
        for kind, page, at in pages:
            con.begin()
            snap = insert_snapshot(con, ACCOUNT, kind, "full", None, at)  # type: ignore[arg-type]
            snap = stage_rows(con, snap, page, None, None, at)
            edges.apply_staged(con, snap, at)
            con.commit()
        con.execute(
            """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id,
                                   action, status, outcome, reserved_at, completed_at)
               SELECT 'follow:1:' || t || ':0', 'bench', 'app', 1, t, 'follow',
                      CASE t % 4 WHEN 0 THEN 'reserved' WHEN 1 THEN 'failed' ELSE 'done' END,
                      CASE t % 4 WHEN 2 THEN 'pending_follow' WHEN 3 THEN 'following'
                                 WHEN 1 THEN 'Forbidden' END, ?, ?
               FROM generate_series(1, 19999, 3) r(t)""",
            [t0, t0],
        )


def section_plan(args: argparse.Namespace) -> None:
    """Times plan_follow_back / plan_unfollow_cleanup on N followers x N following."""
    from datetime import UTC, datetime

    from followflow.campaigns.filters import CandidateFilters
    from followflow.campaigns.planner import Plan, plan_follow_back, plan_unfollow_cleanup
    from followflow.store.connection import connect

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    every_filter = CandidateFilters(
        min_followers=10, max_followers=90_000, min_following=5, max_following=4_900,
        min_follower_ratio=0.01, max_follower_ratio=500, min_account_age_days=30,
        exclude_default_avatar=True, bio_include=("python", "hello"),
        bio_exclude=("crypto", "nft"), exclude_verified=True, allowlist=(5, "user7"),
        denylist=(11, "user13"),
    )  # fmt: skip
    print("== plan: planning from N followers x N following (half overlap), 1.5 N profiles")
    print(f"   {machine_note()}")
    print("   cpu s: this process's CPU plus, on PostgreSQL, the cluster's (its backends and")
    print("   parallel workers): what the plan costs whatever else the machine runs")
    print(f"{'N':>12} {'plan':<50} {'median s':>9} {'cpu s':>6}  runs; considered / included")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ff-bench-plan-"))
        cluster = stack.enter_context(postgres_cluster()) if args.postgres else None
        stores: list[tuple[int, str, DbPath]] = []
        for n in [size for size in args.sizes if size <= 1_000_000]:
            stores.append((n, "", Path(tmp) / f"plan-{n}.duckdb"))
            if cluster is not None:
                url = PostgresUrl(SecretStr(cluster.create_database(f"plan_{n}")))
                stores.append((n, " [postgres]", url))
            if cluster is not None and args.stale:
                url = PostgresUrl(SecretStr(cluster.create_database(f"plan_{n}_stale")))
                stores.append((n, " [postgres, stale]", url))
        for n, where, db in stores:
            _plan_world(db, n, stale="stale" in where)
            if isinstance(db, PostgresUrl) and "stale" not in where:
                _as_autovacuum_would(db)
            with connect(db, lock_timeout_s=60) as con:
                plans: dict[str, Callable[[], Plan]] = {
                    "follow_back (default filters)": lambda: plan_follow_back(con, 1, now=t0),
                    "follow_back (every filter)": lambda: plan_follow_back(
                        con, 1, every_filter, now=t0
                    ),
                    "follow_back (limit 400)": lambda: plan_follow_back(con, 1, limit=400, now=t0),
                    "unfollow_cleanup (7 days)": lambda: plan_unfollow_cleanup(
                        con, 1, 7, ["user9"], t0
                    ),
                }
                server_cpu_s = (lambda: postgres_cpu_s(cluster)) if cluster else (lambda: 0.0)
                for label, fn in plans.items():
                    result: list[Plan] = []
                    times: list[float] = []
                    cpu: list[float] = []
                    for _ in range(args.runs):
                        started = time.perf_counter()
                        cpu_before = time.process_time() + server_cpu_s()
                        result.append(fn())
                        times.append(time.perf_counter() - started)
                        cpu.append(time.process_time() + server_cpu_s() - cpu_before)
                    med = statistics.median(times)
                    target = 2 if isinstance(db, PostgresUrl) else 1  # DESIGN.md 5; issue 12
                    verdict = f"  OK < {target} s" if med < target else "  SLOW"
                    verdict = verdict if n == 1_000_000 else ""
                    print(
                        f"{n:>12,} {label + where:<50} {med:>9.3f} {statistics.median(cpu):>6.2f}  "
                        f"[{', '.join(f'{t:.3f}' for t in times)}]; "
                        f"{result[-1].considered:,} / {len(result[-1].target_ids):,}{verdict}",
                        flush=True,
                    )


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "diff": section_diff,
    "plan": section_plan,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1_000_000, 10_000_000],
        help="comma-separated list sizes N (default 1000000,10000000)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres", action="store_true", help="the same runs on a throwaway PostgreSQL too"
    )
    parser.add_argument(
        "--stale",
        action="store_true",
        help="plan: also on a PostgreSQL store never analyzed since its bulk writes",
    )
    parser.add_argument("--churn", type=float, default=0.01, help="share gained and lost")
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append", help="default: all")
    args = parser.parse_args()
    for name in args.section or SECTIONS:
        SECTIONS[name](args)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
