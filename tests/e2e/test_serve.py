"""Issue 6, done when: `followflow serve` against a real Prefect server and the emulator;
every deployment triggered with `prefect deployment run`, its runs checked through the
Prefect API; a live campaign paused for approval, resumed (or rejected) through the API.

The command lines here are the README's ("Triggering runs"), run as they are written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import Deployment, StateType
from prefect.exceptions import ObjectNotFound

from tests.e2e.conftest import Stack
from tests.e2e.harness import (
    Child,
    approval_form,
    artifacts,
    child,
    data,
    poll,
    progress_artifacts,
    run,
    run_logs,
    trigger,
    trigger_all,
    wait_for_run,
)

SERVE = "uv run followflow serve"
SNAPSHOT = "uv run prefect deployment run snapshot-followers/snapshot-followers"
SNAPSHOT_TWO = (
    SNAPSHOT + ' --param params=\'{"accounts": ["ff_demo", "ff_alice"], "lists": "followers"}\''
)
SNAPSHOT_BAD = SNAPSHOT + ' --param params=\'{"accounts": ["bad name!"]}\''
FOLLOW_BACK = "uv run prefect deployment run follow-back/follow-back"
FOLLOW_BACK_LIVE = (
    FOLLOW_BACK + ' --param params=\'{"account": "ff_demo", "live": true, "max_follows": 3, '
    '"spread_over_day": false}\''
)
FOLLOW_BACK_BAD = FOLLOW_BACK + ' --param params=\'{"account": "bad name!"}\''
CLEANUP = "uv run prefect deployment run unfollow-cleanup/unfollow-cleanup"
PAUSED = "uv run prefect flow-run ls --flow-name follow-back --state-type PAUSED --output json"
RESUME = (
    'uv run python -c "from prefect.flow_runs import resume_flow_run; '
    "resume_flow_run('{id}', run_input={{'approve': True, 'max_actions': 2}})\""
)
NAMES = ("snapshot-followers", "follow-back", "unfollow-cleanup")


class Served:
    def __init__(self, stack: Stack, serve: Child, client: SyncPrefectClient) -> None:
        self.stack, self.serve, self.client = stack, serve, client

    def wait(self, run_id: UUID, states: set[StateType] | None = None, timeout: float = 90):  # type: ignore[no-untyped-def]
        def logs() -> str:
            return (
                f"--- run logs\n{run_logs(self.client, run_id)}\n--- serve\n{self.serve.output()}"
            )

        if states is None:
            return wait_for_run(self.client, run_id, timeout=timeout, logs=logs)
        return wait_for_run(self.client, run_id, states, timeout=timeout, logs=logs)

    def completed(self, line: str) -> UUID:
        return self.finished(trigger(line, self.stack.env), line)

    def finished(self, run_id: UUID, line: str) -> UUID:
        flow_run = self.wait(run_id)
        assert flow_run.state_type == StateType.COMPLETED, (
            f"{line}: {flow_run.state!r}\n{run_logs(self.client, run_id)}"
        )
        return run_id


def registered(served_client, name: str) -> Deployment | None:  # type: ignore[no-untyped-def]
    try:
        deployment = served_client.read_deployment_by_name(f"{name}/{name}")
    except ObjectNotFound:
        return None
    # A work-pool deployment of the same name (test_work_pool) is not served by this process.
    return deployment if deployment.work_pool_name is None else None


@pytest.fixture(scope="module")
def served(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("serve")
    with child(SERVE, stack.env, cwd, cwd / "serve.log") as serve, stack.client() as client:
        for name in NAMES:
            poll(
                f"`followflow serve` to register {name}\n{serve.output()}",
                lambda name=name: registered(client, name),  # type: ignore[misc]
                timeout=90,
            )
        yield Served(stack, serve, client)
    # `followflow serve` has stopped: its schedules must still be active.
    with stack.client() as client:
        for name in ("snapshot-followers", "follow-back"):
            schedules = client.read_deployment_by_name(f"{name}/{name}").schedules
            assert schedules and all(s.active for s in schedules), (name, schedules)
    # Prefect logs a failed run's exception with its traceback; the only run that fails
    # here is the one with bad parameters. Anything else is a crash.
    output = serve.output()
    assert output.count("Traceback") <= output.count("ParameterTypeError: "), output


def test_serve_registers_three_deployments_with_schedules_and_defaults(served: Served) -> None:
    snapshot, follow, cleanup = (served.client.read_deployment_by_name(f"{n}/{n}") for n in NAMES)
    assert snapshot.parameters == {
        "params": {"accounts": ["ff_demo"], "lists": "both", "mode": "full"}
    }
    assert [s.schedule.interval.total_seconds() for s in snapshot.schedules] == [6 * 3600]  # type: ignore[union-attr]
    assert [s.schedule.cron for s in follow.schedules] == ["0 9 * * *"]  # type: ignore[union-attr]
    assert follow.parameters["params"]["live"] is False
    assert cleanup.schedules == []
    assert all(s.active for s in [*snapshot.schedules, *follow.schedules])
    # The UI renders a form from this schema: fields with their descriptions.
    schema = snapshot.parameter_openapi_schema or {}
    fields = schema["definitions"]["SnapshotParams"]["properties"]
    assert "Usernames" in fields["accounts"]["description"]


def test_snapshot_runs_and_records_summary_progress_and_events(served: Served) -> None:
    stack = served.stack
    first = served.completed(SNAPSHOT)
    found = artifacts(served.client, first)
    assert "| @ff_demo | followers | complete |" in found["snapshot-summary"].data  # type: ignore[operator]
    demo_id = stack.account_id("ff_demo")
    # Both lists fit in one window: one run reads them, with one progress artifact.
    (progress,) = progress_artifacts(served.client, first)
    assert progress.data == 100.0 and "short lists read of 2" in str(progress.description)
    gained, lost = stack.emulator.churn_now(demo_id, 4, 2)

    second = served.completed(SNAPSHOT_TWO)
    found = artifacts(served.client, second)
    assert "| @ff_alice | followers | complete |" in found["snapshot-summary"].data  # type: ignore[operator]
    events = data(found["follower-events"])
    assert sorted(int(e["user_id"]) for e in events if e["event"] == "gained") == sorted(gained)
    assert sorted(int(e["user_id"]) for e in events if e["event"] == "lost") == sorted(lost)


def test_follow_back_and_cleanup_dry_runs_plan_and_send_nothing(served: Served) -> None:
    before = len(served.stack.emulator.action_log)
    follow, cleanup = trigger_all([FOLLOW_BACK, CLEANUP], served.stack.env)
    report = artifacts(served.client, served.finished(follow, FOLLOW_BACK))
    assert report["follow-report"].data.startswith("# Dry run: follow")  # type: ignore[union-attr]
    assert {r["result"] for r in data(report["follow-actions"])} >= {"planned"}
    cleaned = artifacts(served.client, served.finished(cleanup, CLEANUP))
    assert cleaned["unfollow-report"].data.startswith("# Dry run: unfollow")  # type: ignore[union-attr]
    assert len(served.stack.emulator.action_log) == before


def paused_run(served: Served) -> UUID:
    """The one paused follow-back run, found through the API and with the CLI; waits for
    its approval form to be complete."""

    def by_api() -> list[UUID] | None:
        runs = served.client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["follow-back"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
        )
        return [r.id for r in runs] or None

    paused = poll("a paused follow-back run", by_api, timeout=60)
    assert len(paused) == 1
    run_id = paused[0]
    listed = run(PAUSED, served.stack.env)
    assert listed.returncode == 0, listed.stderr
    assert [UUID(r["id"]) for r in json.loads(listed.stdout)] == [run_id]
    flow_run = served.client.read_flow_run(run_id)
    keyset = flow_run.state.state_details.run_input_keyset  # type: ignore[union-attr]
    assert keyset is not None, "the pause asks for input"

    # The description is saved after the schema: once it is there, the form is complete.
    description = approval_form(served.client, run_id, keyset)
    # The UI shows this above the resume form: the plan as markdown, with a table.
    assert f"**follow plan for account {served.stack.account_id('ff_demo')}**" in description
    assert "| # | user | followers | following | in | reason |" in description
    return run_id


def test_live_campaign_pauses_and_follows_after_approval_through_the_api(
    served: Served,
) -> None:
    stack = served.stack
    before = stack.follows_by("ff_demo")
    run_id = trigger(FOLLOW_BACK_LIVE, stack.env)
    assert paused_run(served) == run_id
    assert stack.follows_by("ff_demo") == before, "nothing is sent before approval"
    done = run(RESUME.format(id=run_id), stack.env)
    assert done.returncode == 0, done.stderr
    flow_run = served.wait(run_id)
    assert flow_run.state_type == StateType.COMPLETED, flow_run.state
    sent = stack.follows_by("ff_demo")[len(before) :]
    assert len(sent) == 2, "approved with max_actions=2 of a 3-follow plan"
    rows = data(artifacts(served.client, run_id)["follow-actions"])
    assert sorted(int(r["user_id"]) for r in rows if r["action"] == "follow") == sorted(sent)


def test_rejected_approval_sends_nothing(served: Served) -> None:
    stack = served.stack
    before = len(stack.emulator.action_log)
    run_id = trigger(FOLLOW_BACK_LIVE, stack.env)
    assert paused_run(served) == run_id
    answer = served.client.resume_flow_run(run_id, run_input={"approve": False})
    assert answer.status.value == "ACCEPT", answer
    flow_run = served.wait(run_id)
    assert flow_run.state_type == StateType.COMPLETED, flow_run.state
    assert "rejected" in artifacts(served.client, run_id)["follow-report"].data  # type: ignore[operator]
    assert len(stack.emulator.action_log) == before


def test_bad_parameters_are_rejected_before_any_x_call(served: Served) -> None:
    stack = served.stack
    requests_before, _ = stack.emulator.traffic.since(0)
    # The server checks the UI's form schema (the account pattern) and refuses the run.
    refused = run(FOLLOW_BACK_BAD, stack.env)
    assert refused.returncode == 1
    assert (
        "Validation failed for field 'params.account'. Failure reason: 'bad name!' does not match"
        in refused.stdout
    ), refused.stdout + refused.stderr
    # What the schema cannot say (a list item's spelling) the flow's model checks first.
    run_id = trigger(SNAPSHOT_BAD, stack.env)
    flow_run = served.wait(run_id)
    assert flow_run.state_type == StateType.FAILED
    assert "not a username or user id: 'bad name!'" in str(flow_run.state.message)
    requests_after, _ = stack.emulator.traffic.since(0)
    assert requests_after == requests_before, "no request reached X"
