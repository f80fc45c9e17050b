"""The Custom Run form of each deployment, as the Prefect UI renders it in headless Chromium
against the session's real `prefect server start`: an optional number is a plain number
field that may be left empty, never a picker between `int` and `None` that says
'Property is type "None"'. The deployments are registered as `followflow serve` registers
them (`deployments.serve.build_deployments`), by a child process, with no runner to pick up
runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from flows.follow_back import PlanApproval
from flows.params import SnapshotParams, UnfollowCleanupParams
from followflow.campaigns.filters import CandidateFilters
from tests.browser import chromium, needs_chromium
from tests.e2e.conftest import Stack
from tests.e2e.harness import run
from tests.e2e.test_serve import NAMES

REGISTER = (
    'uv run python -c "from deployments.serve import build_deployments; '
    "from followflow.settings import get_settings; "
    '[d.apply() for d in build_deployments(get_settings())]"'
)
# Each form's optional numbers, by the label the UI gives them.
OPTIONAL_NUMBERS = {
    "snapshot-followers": ["Max Reads"],
    "follow-back": [
        "Min Followers",
        "Max Followers",
        "Min Following",
        "Max Following",
        "Min Follower Ratio",
        "Max Follower Ratio",
        "Min Account Age Days",
    ],
    "unfollow-cleanup": ["Grace Days"],
}
# The models behind the forms that have optional numbers (FollowBackParams's are in its
# CandidateFilters), and the resume form of a paused campaign.
FORMS: list[type[BaseModel]] = [
    SnapshotParams,
    CandidateFilters,
    UnfollowCleanupParams,
    PlanApproval,
]


@pytest.fixture(scope="module")
def deployment_ids(stack: Stack) -> dict[str, str]:
    done = run(REGISTER, stack.env)
    assert done.returncode == 0, done.stdout + done.stderr
    with stack.client() as client:
        return {name: str(client.read_deployment_by_name(f"{name}/{name}").id) for name in NAMES}


def custom_run_page(stack: Stack, deployment_id: str, tmp: Path) -> str:
    """The DOM of the deployment's Custom Run page once the single-page app has drawn it."""
    ui = stack.api_url.removesuffix("/api")
    dom = chromium(
        "--virtual-time-budget=30000",  # lets the app fetch the deployment and draw the form
        "--dump-dom",
        f"{ui}/deployments/deployment/{deployment_id}/run",
        profile=tmp / "chromium-profile",
    )
    return dom.decode()


def fields(page: str) -> dict[str, str]:
    """Each form field's markup (up to the next field) by its label, "(Optional)" dropped."""
    parts = re.split(r'<div class="p-label schema-form-property\b', page)[1:]
    found = {}
    for part in parts:
        label = re.search(r'schema-form-property__label">([^<]*)<', part)
        if label:
            found[label[1].removesuffix(" (Optional)").strip()] = part
    return found


@needs_chromium
@pytest.mark.parametrize("name", NAMES)
def test_custom_run_form_shows_optional_numbers_as_plain_number_fields(
    name: str, stack: Stack, deployment_ids: dict[str, str], tmp_path: Path
) -> None:
    page = custom_run_page(stack, deployment_ids[name], tmp_path)
    form = fields(page)
    assert "Account" in form or "Accounts" in form, page[-3000:]  # the form was drawn
    assert 'Property is type "None"' not in page
    assert "schema-form-property-any-of" not in page  # no type picker anywhere
    for label in OPTIONAL_NUMBERS[name]:
        assert '<input type="number"' in form[label], (label, form[label][:2000])
        assert ">None<" not in form[label]


def test_the_server_takes_a_form_with_optional_numbers_left_empty(
    stack: Stack, deployment_ids: dict[str, str]
) -> None:
    """What the form sends is checked by the server against the published schema (the UI
    asks before it submits): fields left empty are absent; null and numbers are taken."""
    with stack.client() as client:
        schema = client.read_deployment_by_name("follow-back/follow-back").parameter_openapi_schema

    def valid(params: dict[str, Any]) -> bool:
        answer = httpx.post(
            f"{stack.api_url}/ui/schemas/validate",
            json={"schema": schema, "values": {"params": params}},
            timeout=30,
        )
        answer.raise_for_status()
        return bool(answer.json()["valid"])

    assert valid({"account": "ff_demo"})
    assert valid({"account": "ff_demo", "filters": {"min_followers": None}})
    assert valid({"account": "ff_demo", "filters": {"min_followers": 10, "max_follower_ratio": 2}})
    assert not valid({"account": "ff_demo", "filters": {"min_followers": -1}})
    assert not valid({"account": "ff_demo", "filters": {"min_followers": "ten"}})


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.__name__)
def test_no_form_publishes_a_null_branch_and_python_still_takes_none(
    form: type[BaseModel],
) -> None:
    properties = form.model_json_schema()["properties"]
    for name, field in properties.items():
        assert {"type": "null"} not in field.get("anyOf", []), name
    optional = [name for name, info in form.model_fields.items() if info.default is None]
    assert optional, "every form here has an optional number"
    required = {"account": "ff_demo", "accounts": ["ff_demo"]}
    given = {k: v for k, v in required.items() if k in form.model_fields}
    for name in optional:
        assert "default" not in properties[name] and properties[name]["type"] in {
            "integer",
            "number",
        }
        assert getattr(form.model_validate({**given, name: None}), name) is None
        with pytest.raises(ValidationError):
            form.model_validate({**given, name: -1})
