"""A listing's progress, as it reads: to the terminal, to the log, to a Prefect artifact."""

from __future__ import annotations

import math
from collections.abc import Callable
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_run_logger

from followflow import progress
from tasks.listing import Account, Kind

# Progress artifacts cost an API round trip; a few updates a second is plenty for a human.
PROGRESS_EVERY_S = 1.0
ETA_LOG_EVERY_S = 30.0


def _artifact_key(account: Account, kind: Kind) -> str:
    return f"snapshot-{kind}-{account.id}"


class ProgressReporter:
    """Progress to the terminal (in-process listeners) and to a Prefect progress artifact.

    `detailed=False`: the terminal only, no ETA in the log and no artifact, for lists read
    many to a task run (tasks/short_lists.py), whose run has one `ListsProgress` artifact
    for all of them: an artifact each cost the Prefect server more than reading the list
    (bench/fleet.py).
    """

    def __init__(
        self,
        account: Account,
        kind: Kind,
        page_size: int,
        clock: Callable[[], float],
        *,
        detailed: bool = True,
    ):
        self.account, self.kind, self.clock, self.detailed = account, kind, clock, detailed
        self.users_expected = account.expected(kind)
        self.pages_expected = max(1, math.ceil(self.users_expected / page_size))
        # Created with the first page, not before it: a run's listings start together and
        # an API call each would hold back their first requests.
        self.artifact_id: UUID | None = None
        self.last_update = 0.0
        self.started = clock()
        self.last_log = self.started
        self.logger = get_run_logger()

    def _log_eta(self, pages: int, expected: int, now: float) -> None:
        if now - self.last_log < ETA_LOG_EVERY_S or pages == 0:
            return
        self.last_log = now
        rate = pages / max(now - self.started, 1e-9)
        eta = max(expected - pages, 0) / rate
        self.logger.info(
            "@%s %s: page %d of ~%d; about %.0f s to go at %.2f pages/s",
            self.account.username,
            self.kind,
            pages,
            expected,
            eta,
            rate,
        )

    def update(self, pages: int, users: int, *, finished: bool = False) -> None:
        expected = max(self.pages_expected, pages)
        progress.report(
            progress.Progress(
                account=self.account.username,
                kind=self.kind,
                pages_done=pages,
                pages_expected=expected if not finished else pages,
                users_seen=users,
                users_expected=max(self.users_expected, users),
                finished=finished,
            )
        )
        if not self.detailed:
            return
        now = self.clock()
        self._log_eta(pages, expected, now)
        done = 100.0 if finished else min(99.0, 100.0 * pages / expected)
        if self.artifact_id is None:
            self.last_update = now
            # Called from sync code it returns the id; Prefect types it maybe-a-coroutine.
            self.artifact_id = create_progress_artifact(  # type: ignore[assignment]
                progress=done,
                key=_artifact_key(self.account, self.kind),
                description=(
                    f"{self.kind} of @{self.account.username}: pages read of pages expected"
                ),
            )
        elif finished or now - self.last_update >= PROGRESS_EVERY_S:
            self.last_update = now
            update_progress_artifact(self.artifact_id, done)


class ListsProgress:
    """The lists a task run has read of the lists it was given, as one Prefect progress
    artifact, updated at most every PROGRESS_EVERY_S from the task run's own thread."""

    def __init__(self, total: int, description: str, clock: Callable[[], float]) -> None:
        self.total, self.clock, self.done = total, clock, 0
        self.last_update = clock()
        # Called from sync code it returns the id; Prefect types it maybe-a-coroutine.
        self.artifact_id: UUID = create_progress_artifact(  # type: ignore[assignment]
            progress=0.0, description=description
        )

    def list_ended(self) -> None:
        """One more list is read (or handed over)."""
        self.done += 1
        now = self.clock()
        if self.done < self.total and now - self.last_update < PROGRESS_EVERY_S:
            return
        self.last_update = now
        update_progress_artifact(self.artifact_id, 100.0 * self.done / self.total)
