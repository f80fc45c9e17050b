"""The `snapshot-followers` flow: followers and following of accounts into the store.

Accounts and lists run concurrently, each within its own rate-limit bucket. A list longer
than one window is a listing of its own: one `snapshot-list` task run and a few
`read-pages` runs (a window's pages each). Shorter lists are read many to a
`snapshot-short-lists` run (tasks/short_lists.py); one that cannot finish there goes on
as a listing of its own. Before
anything is read, the flow logs what the run will cost (requests, time at the current rate
limit, money at the configured price per read) and refuses to start a listing that the
run's read cap cannot pay for.
"""

from __future__ import annotations

import math
import queue
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.accounts import resolve_accounts
from flows.params import MAX_ACCOUNTS_PER_RUN, SnapshotParams
from followflow.report import summary_markdown
from followflow.settings import Settings, get_settings
from followflow.store.connection import connect
from tasks.clients import client_for
from tasks.limits import ensure_limits, taken_ahead, x_limit_name
from tasks.listing import Account, Kind, ListOutcome, ReadBudget
from tasks.short_lists import ShortListsRead, short_list_runs, snapshot_short_lists
from tasks.snapshot import snapshot_list

WINDOW_S = 900
MAX_LISTINGS = 2 * MAX_ACCOUNTS_PER_RUN


class SnapshotFailed(Exception):
    """Some accounts or lists could not be snapshotted; the message lists which and why."""


@dataclass(frozen=True)
class Estimate:
    account: Account
    kind: Kind
    requests: int
    seconds: float
    reads: int
    cost_usd: float


def estimate(account: Account, kind: Kind, settings: Settings) -> Estimate:
    """Requests, seconds at the assumed rate limit, and read cost of one full listing."""
    users = account.expected(kind)
    requests = max(1, math.ceil(users / settings.page_size))
    windows = (requests - 1) // settings.reads_per_window
    return Estimate(
        account, kind, requests, windows * WINDOW_S, users, users * settings.read_price_usd
    )


def _fits_one_window(account: Account, kind: Kind, mode: str, settings: Settings) -> bool:
    """Whether a full listing's pages, by the profile's count, fit in one window's reads:
    those are read many to a task run (tasks/short_lists.py)."""
    pages = max(1, math.ceil(account.expected(kind) / settings.page_size))
    return mode == "full" and pages <= settings.reads_per_window


def _kinds(lists: str) -> list[Kind]:
    return ["followers", "following"] if lists == "both" else [lists]  # type: ignore[list-item]


def _summary_markdown(outcomes: list[ListOutcome], problems: dict[str, str]) -> str:
    lines = ["# Snapshot run", "", "| account | list | status | users | gained | lost | note |"]
    lines.append("|---|---|---|---:|---:|---:|---|")
    for o in outcomes:
        note = "baseline (first snapshot)" if o.baseline else (o.error or "")
        lines.append(
            f"| @{o.account} | {o.kind} | {o.status} | {o.users_read:,} | "
            f"{len(o.gained_ids):,} | {len(o.lost_ids):,} | {note.replace('|', '/')} |"
        )
    for ref, reason in problems.items():
        lines.append(f"| {ref} | - | failed | 0 | 0 | 0 | {reason} |")
    return "\n".join(lines)


def _events_table(outcomes: list[ListOutcome]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for o in outcomes:
        if o.kind != "followers":
            continue
        rows += [{"account": o.account, "user_id": str(u), "event": "gained"} for u in o.gained_ids]
        rows += [
            {
                "account": o.account,
                "user_id": str(u),
                "event": "lost",
                "reason": o.lost_reasons.get(u, ""),
            }
            for u in o.lost_ids
        ]
    return rows[:1000]


def _account_summary(account_id: int, settings: Settings) -> None:
    """The report's markdown summary of an account, as its artifact (`account-<id>`)."""
    budgets = (
        settings.follow_budget_per_user,
        settings.follow_budget_per_app,
        settings.unfollow_budget_per_app,
    )
    with connect(settings.store, read_only=True) as con:
        markdown = summary_markdown(con, account_id, now=datetime.now(UTC), budgets=budgets)
    create_markdown_artifact(
        markdown, key=f"account-{account_id}", description="Followers, changes, budgets"
    )


def _limit_names(listings: list[tuple[Account, Kind]], settings: Settings) -> list[str]:
    """The global limits of `listings`' rate-limit buckets, in their order."""
    return [
        x_limit_name(kind, client_for(settings, for_writes=False, user_id=account.id).principal)
        for account, kind in listings
    ]


def _read_lists(
    planned: list[tuple[Account, Kind]], mode: str, budget: ReadBudget, settings: Settings
) -> Iterator[ListOutcome]:
    """Read every planned list at once; yields each list's outcome as it ends."""
    # Every listing has its own bucket, so the run lasts as long as its longest listing, and
    # no longer only if that one starts first: largest first, and the lists longer than a
    # window (a few of a fleet's hundreds) are started before anything is done for the
    # short ones, whose clients and limits took a 167-account run 2.3 s when it created them
    # (its largest listing now reads 0.35 s after the account lookup).
    largest_first = sorted(planned, key=lambda plan: -plan[0].expected(plan[1]))
    short: list[tuple[Account, Kind]] = []
    own: list[tuple[Account, Kind]] = []
    for account, kind in largest_first:
        fits = _fits_one_window(account, kind, mode, settings)
        (short if fits else own).append((account, kind))
    ended: queue.Queue[PrefectFuture[Any]] = queue.Queue()
    running = 0

    def start(future: PrefectFuture[Any]) -> None:
        nonlocal running
        running += 1
        future.add_done_callback(ended.put)

    own_limits = _limit_names(own, settings)
    ensure_limits(*own_limits)
    with taken_ahead(own_limits):
        for account, kind in own:
            start(snapshot_list.submit(account, kind, mode, budget))
        ensure_limits(*_limit_names(short, settings))
        for lists in short_list_runs(short):
            first = lists[0][0].username
            start(snapshot_short_lists.submit(lists, budget, count=len(lists), first=first))
        while running:
            result = ended.get().result()
            running -= 1
            if isinstance(result, ShortListsRead):
                yield from result.outcomes
                for account, kind in result.handed_over:
                    start(snapshot_list.submit(account, kind, mode, budget))
            else:
                yield result


# Every listing waits on its own rate-limit bucket; a thread each, up to the accounts x 2
# lists a run may hold, so no listing queues behind another bucket's wait. Threads start
# only when needed, and lists of one window share a few (tasks/short_lists.py).
@flow(
    name="snapshot-followers",
    log_prints=True,
    # Prefect's own stubs reject its thread-pool runner here (generic variance).
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_LISTINGS),  # type: ignore[arg-type]
)
def snapshot_followers(params: SnapshotParams) -> list[ListOutcome]:
    """Snapshot the followers and/or following of accounts into the store."""
    logger = get_run_logger()
    settings = get_settings()
    accounts, problems = resolve_accounts(params.accounts)
    for reason in problems.values():
        logger.error("%s; skipping it", reason)
    budget = ReadBudget(params.max_reads or settings.max_reads_per_run)
    planned: list[tuple[Account, Kind]] = []
    for account in accounts:
        for kind in _kinds(params.lists):
            est = estimate(account, kind, settings)
            logger.info(
                "@%s %s: ~%d users, %d requests, ~%.0f s at %d reads/15 min, ~$%.2f to read",
                account.username,
                kind,
                est.reads,
                est.requests,
                est.seconds,
                settings.reads_per_window,
                est.cost_usd,
            )
            planned.append((account, kind))
    read: dict[tuple[int, Kind], ListOutcome] = {}
    lists_left = Counter(account.id for account, _ in planned)
    for outcome in _read_lists(planned, params.mode, budget, settings):
        account_id = outcome.account_id
        read[account_id, outcome.kind] = outcome
        lists_left[account_id] -= 1
        # As soon as an account's lists are read, while the others still read: a fleet
        # run's hundred summaries at the end took seconds after its last list.
        if lists_left[account_id]:
            continue
        if any(read[account_id, kind].status == "complete" for kind in _kinds(params.lists)):
            _account_summary(account_id, settings)
    outcomes = [read[account.id, kind] for account, kind in planned]
    create_markdown_artifact(
        _summary_markdown(outcomes, problems), key="snapshot-summary", description="Snapshot run"
    )
    events = _events_table(outcomes)
    if events:
        create_table_artifact(events, key="follower-events", description="Gained and lost")
    failures = [f"@{o.account} {o.kind}: {o.error}" for o in outcomes if o.status != "complete"]
    failures += list(problems.values())
    if failures:
        raise SnapshotFailed("; ".join(failures))
    return outcomes
