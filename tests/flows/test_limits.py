"""Global concurrency limits: created by the project, never silently missing."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from tasks.limits import campaign_limit_name, ensure_limits, hold, x_limit_name

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_names_follow_the_public_contract() -> None:
    assert x_limit_name("followers", "user-42") == "x:followers:user-42"
    assert campaign_limit_name(42) == "campaign:42"


def test_ensure_limits_creates_one_slot_limits_idempotently() -> None:
    name = x_limit_name("following", "user-7")
    ensure_limits(name)
    ensure_limits(name)
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(name)
    assert limit.limit == 1


def test_a_missing_limit_is_an_error_not_unthrottled_running() -> None:
    with pytest.raises(Exception, match="x:followers:nobody"):  # noqa: B017 - Prefect's own error
        with hold(x_limit_name("followers", "nobody"), timeout_s=5):
            pass
