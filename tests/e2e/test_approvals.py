"""Long approvals through `followflow serve`: a live follow-back whose approval may take
longer than an hour is suspended (it holds no process), resumed through the API with its
answer, re-run from the top by the served runner, and sends each approved follow once.

Unfollow clean-up is not driven end to end here: it only considers accounts followed at
least `grace_days` (>= 1) ago, counted from the first snapshot that saw the follow, and
every follow in this session's database was first seen minutes ago. Satisfying it would
mean faking time (back-dated snapshots or a moved clock); its dry run is in test_serve.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import duckdb
import pytest
from prefect.client.schemas.objects import StateType

from tests.e2e.conftest import Stack
from tests.e2e.harness import approval_form, child, poll, run, run_logs, trigger
from tests.e2e.test_serve import FOLLOW_BACK, NAMES, SERVE, Served, registered

FOLLOW_BACK_SUSPENDED = (
    FOLLOW_BACK + ' --param params=\'{"account": "ff_demo", "live": true, "approved": false, '
    '"max_follows": 3, "spread_over_day": false, "approval_timeout_s": 7200}\''
)
PLANNED = "candidates, 3 planned this run"
# `prefect.flow_runs.resume_flow_run` as a user runs it: in its own process, with the
# stack's PREFECT_API_URL (this process's global settings may point elsewhere).
RESUME = (
    'uv run python -c "from prefect.flow_runs import resume_flow_run; '
    "resume_flow_run('{id}', run_input={{'approve': True}})\""
)


@pytest.fixture(scope="module")
def served(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("serve-approvals")
    with child(SERVE, stack.env, cwd, cwd / "serve.log") as serve, stack.client() as client:
        for name in NAMES:
            poll(
                f"`followflow serve` to register {name}\n{serve.output()}",
                lambda name=name: registered(client, name),  # type: ignore[misc]
                timeout=90,
            )
        yield Served(stack, serve, client)
    assert "Traceback" not in serve.output(), serve.output()


def ledger_rows(db_path: Path, run_id: UUID) -> list[tuple[int, str, str | None]]:
    """(target_id, status, outcome) of the run's follows, read with the file opened
    read-only (retried while a flow of the serve process has it open for writing)."""

    def read() -> list[tuple[int, str, str | None]] | None:
        try:
            con = duckdb.connect(str(db_path), read_only=True)
        except duckdb.IOException:
            return None
        try:
            return con.execute(
                """SELECT target_id, status, outcome FROM actions
                   WHERE run_id = ? AND action = 'follow' ORDER BY action_id""",
                [str(run_id)],
            ).fetchall()
        finally:
            con.close()

    return poll(f"a read-only connection to {db_path}", read, timeout=30)


def test_long_approval_suspends_and_the_resumed_run_follows_each_target_once(
    served: Served,
) -> None:
    stack, client = served.stack, served.client
    before = stack.follows_by("ff_demo")
    run_id = trigger(FOLLOW_BACK_SUSPENDED, stack.env)

    paused = served.wait(run_id, {StateType.PAUSED})
    state = paused.state
    assert state is not None and state.name == "Suspended", state
    assert state.state_details.pause_reschedule, "suspended: rescheduled when resumed"
    keyset = state.state_details.run_input_keyset
    assert keyset is not None, "the suspension asks for input"

    description = approval_form(client, run_id, keyset)
    assert f"**follow plan for account {stack.account_id('ff_demo')}**" in description
    assert stack.follows_by("ff_demo") == before, "nothing is sent before approval"

    done = run(RESUME.format(id=run_id), stack.env)
    assert done.returncode == 0, done.stdout + done.stderr
    flow_run = served.wait(run_id, timeout=120)
    assert flow_run.state_type == StateType.COMPLETED, flow_run.state
    # Re-run from the top: the plan is made (and logged) once per start of the flow. The
    # run's last log lines may reach the server shortly after its final state.
    poll(
        "the re-run's log lines",
        lambda: run_logs(client, run_id).count(PLANNED) == 2 or None,
        timeout=30,
    )
    history = [s.type for s in client.read_flow_run_states(run_id)]
    assert history.count(StateType.RUNNING) == 2, history
    assert history.index(StateType.PAUSED) < len(history) - 1 - history[::-1].index(
        StateType.RUNNING
    ), history

    sent = stack.follows_by("ff_demo")[len(before) :]
    assert len(sent) == 3, sent
    assert len(set(sent)) == 3, f"a follow was sent twice: {sent}"
    assert not set(sent) & set(before), "no target followed before is followed again"

    rows = ledger_rows(Path(stack.env["FOLLOWFLOW_DB_PATH"]), run_id)
    assert [status for _, status, _ in rows] == ["done"] * 3, rows
    assert sorted(target for target, _, _ in rows) == sorted(sent)
    assert {outcome for _, _, outcome in rows} <= {"following", "pending_follow"}, rows
