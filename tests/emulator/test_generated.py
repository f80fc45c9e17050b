"""The emulator under requests generated from X's own OpenAPI subsets (schemathesis).

Every operation of both spec generations, with each auth kind the operation declares,
in positive and negative mode, over loopback against an emulator with limits off. Checks:
no 5xx and a JSON body for every request (undeclared methods included); a request the
spec forbids gets X's invalid-request body; a request without valid credentials gets
X's 401; the headers X sends on every response are there. Where X's real behaviour and
its spec disagree, the emulator follows X and the case is excused by the deviation's
name (followflow/emulator/deviations.py), never by switching a check off. Error bodies
are checked for JSON and for the invalid-request shape, not against the spec's `default`
schemas (see deviation "problem-as-application-json").

A fixed seed (`derandomize`) and a few examples per operation keep the default run short;
the `slow` variant runs many more.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests_oauthlib import OAuth1
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection

from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.deviations import BY_NAME
from tests.shared import XAPI

from .helpers import need_specs

# The auth kinds, each with the OpenAPI security scheme that declares it.
SCHEMES = {"bearer": "BearerToken", "oauth2": "OAuth2UserToken", "oauth1": "UserToken"}
# Spec generation -> the emulator presets it is run against.
RUNS = [("159", "v2-2023"), ("167", "v2-2023"), ("167", "v2-2026")]
ALWAYS = ("content-type", "date", "x-rate-limit-limit", "x-rate-limit-remaining")
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "HEAD", "CONNECT")
DEFAULT_EXAMPLES = 6
SLOW_EXAMPLES = 150


@cache
def _spec(version: str) -> dict[str, Any]:
    need_specs()
    return json.loads((XAPI / f"openapi-follows-v2.{version}.json").read_text())  # type: ignore[no-any-return]


def _schema(version: str, base_url: str) -> Any:
    config = schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": ["400"]}}}
    )
    schema = schemathesis.openapi.from_dict(copy.deepcopy(_spec(version)), config=config)
    schema.config.update(base_url=base_url)
    return schema


@dataclass
class Served:
    emulator: Emulator
    base_url: str
    preset: str


@pytest.fixture(scope="module", params=RUNS, ids=[f"v2.{v}-{p}" for v, p in RUNS])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Served]]:
    version, preset = request.param
    emulator = Emulator.create(seed=1, preset=preset, limits=False)
    with EmulatorServer(emulator) as server:
        yield version, Served(emulator, server.base_url, preset)


def _session(served: Served, kind: str) -> requests.Session:
    session = requests.Session()
    emu = served.emulator
    account = emu.account("ff_demo")
    if kind == "bearer":
        session.headers["Authorization"] = f"Bearer {emu.app.bearer_token}"
    elif kind == "oauth2":
        session.headers["Authorization"] = f"Bearer {account.oauth2_access_token}"
    else:
        session.auth = OAuth1(
            emu.app.consumer_key,
            emu.app.consumer_secret,
            account.access_token,
            account.access_token_secret,
        )
    return session


def _declares(operation: Any, kind: str) -> bool:
    security = operation.definition.raw.get("security", [])
    return any(SCHEMES[kind] in requirement for requirement in security)


def _json_body(response: Any, what: str) -> Any:
    """The body of a schemathesis or requests response, after the checks every one passes."""
    headers = {k.lower(): v if isinstance(v, str) else v[0] for k, v in response.headers.items()}
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]}"
    content_type = headers.get("content-type", "")
    assert content_type.startswith(("application/json", "application/problem+json")), (
        f"{what}: content-type {content_type!r}"
    )
    for name in ALWAYS:
        assert name in headers, f"{what}: no {name} header"
    if response.request.method == "HEAD":
        assert response.content == b""
        return None
    return json.loads(response.content)


def _refuses_bad_credentials(case: Any, served: Served, what: str) -> None:
    for header in ({}, {"Authorization": "Bearer not-a-token"}):
        kwargs = case.as_transport_kwargs(base_url=served.base_url)
        kwargs["headers"] = {
            k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"
        } | header
        response = requests.request(**kwargs)
        body = _json_body(response, f"{what} without valid credentials")
        assert response.status_code == 401, f"{what}: {response.status_code} {body}"
        assert body == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }


def _spec_problem_host(version: str) -> str:
    mapping = _spec(version)["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    (invalid,) = (uri for uri in mapping if uri.endswith("/invalid-request"))
    return str(invalid).removesuffix("invalid-request")


def _excused(name: str) -> str:
    assert name in BY_NAME, f"{name} is not in followflow/emulator/deviations.py"
    return name


def _problem_host(version: str, preset: str) -> str:
    """The host the spec names, unless a listed deviation says X sends another."""
    if version == "167" and preset == "v2-2023":
        _excused("problem-type-host")
        return "https://api.twitter.com/2/problems/"
    return _spec_problem_host(version)


def _field_enums(version: str) -> dict[str, set[str]]:
    components = _spec(version)["components"]["parameters"]
    return {p["name"]: set(p["schema"]["items"]["enum"]) for p in components.values()}


def _accepted_because(version: str, query: dict[str, Any] | None) -> str | None:
    """The deviation that explains why the emulator accepted what this spec forbids."""
    other = _field_enums("159" if version == "167" else "167")
    spelled = {"tweet.fields": "post.fields", "post.fields": "tweet.fields"}
    own = _field_enums(version)
    outside = []
    for name, value in (query or {}).items():
        if name not in own:
            continue
        items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
        outside += [(name, item) for item in items if item not in own[name]]
    both = bool(outside) and all(
        item in other.get(name, other.get(spelled.get(name, ""), set())) for name, item in outside
    )
    return _excused("fields-of-both-generations") if both else None


def _assert_invalid_request(body: Any, host: str, what: str) -> None:
    assert body["title"] == "Invalid Request", f"{what}: {body}"
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert body["type"] == host + "invalid-request", f"{what}: {body['type']}"
    assert body["errors"] and all(set(e) == {"parameters", "message"} for e in body["errors"])


def _check(case: Any, session: requests.Session, served: Served, kind: str, version: str) -> None:
    what = f"v2.{version} {kind} {case.operation.label} {case.meta.generation.mode.value}"
    response = case.call(session=session, base_url=served.base_url)
    body = _json_body(response, what)
    negative = case.meta.generation.mode.is_negative
    if not _declares(case.operation, kind):
        # App-only on a user-context operation: X's 403, whatever the parameters.
        assert response.status_code == 403, f"{what}: {response.status_code} {body}"
        assert body["title"] == "Unsupported Authentication"
        assert body["type"] == _problem_host(version, served.preset) + "unsupported-authentication"
    elif response.status_code == 400:
        _assert_invalid_request(body, _problem_host(version, served.preset), what)
    elif negative:
        try:
            case.validate_response(response, checks=[negative_data_rejection])
        except FailureGroup:
            reason = _accepted_because(version, case.query)
            assert reason is not None, f"{what}: accepted a request the spec forbids: {body}"
    else:
        _refuses_bad_credentials(case, served, what)


def _fixed_seed(examples: int) -> Any:
    """Hypothesis settings: the same examples every run, no database, no shrinking."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _run(served_pair: tuple[str, Served], kind: str, mode: str, examples: int) -> None:
    version, served = served_pair
    schema = _schema(version, served.base_url)
    session = _session(served, kind)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(_declares(operation, kind) for operation in operations)
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

        @_fixed_seed(examples)
        @given(case=strategy)
        def one(case: Any) -> None:
            _check(case, session, served, kind, version)

        one()


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("kind", list(SCHEMES))
def test_generated_requests(served: tuple[str, Served], kind: str, mode: str) -> None:
    _run(served, kind, mode, DEFAULT_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("kind", list(SCHEMES))
def test_generated_requests_many(served: tuple[str, Served], kind: str, mode: str) -> None:
    _run(served, kind, mode, SLOW_EXAMPLES)


def _undeclared(version: str) -> list[tuple[str, str]]:
    """(method, path template) pairs the spec does not declare, for every path."""
    paths = _spec(version)["paths"]
    return [
        (method, path)
        for path, operations in paths.items()
        for method in METHODS
        if method.lower() not in operations
    ]


def _run_undeclared(served_pair: tuple[str, Served], examples: int) -> None:
    version, served = served_pair
    session = _session(served, "oauth2")
    segment = st.one_of(st.from_regex(r"[0-9]{1,19}", fullmatch=True), st.just("ff_demo"))

    @_fixed_seed(examples)
    @given(pair=st.sampled_from(_undeclared(version)), data=st.data())
    def one(pair: tuple[str, str], data: st.DataObject) -> None:
        method, template = pair
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + data.draw(segment) + path[end + 1 :]
        response = session.request(method, served.base_url + path)
        what = f"v2.{version} undeclared {method} {path}"
        _json_body(response, what)
        assert 400 <= response.status_code < 500, f"{what}: {response.status_code}"

    one()


def test_undeclared_methods(served: tuple[str, Served]) -> None:
    _run_undeclared(served, DEFAULT_EXAMPLES * 10)


@pytest.mark.slow
def test_undeclared_methods_many(served: tuple[str, Served]) -> None:
    _run_undeclared(served, SLOW_EXAMPLES * 10)


def test_the_other_generations_field_names_are_excused_by_name() -> None:
    # The exclusion is real: a 2.167 request naming 2.159 fields is accepted by the
    # emulator (as X accepts tweepy's and twarc's) and explained by the deviation.
    emulator = Emulator.create(seed=1, limits=False)
    with EmulatorServer(emulator) as server:
        session = _session(Served(emulator, server.base_url, "v2-2023"), "oauth2")
        query = {"user.fields": "pinned_tweet_id", "expansions": "pinned_tweet_id"}
        response = session.get(server.base_url + "/2/users/me", params=query)
        assert response.status_code == 200
    assert _accepted_because("167", query) == "fields-of-both-generations"
    assert _accepted_because("167", {"user.fields": "no_such_field"}) is None
    assert _accepted_because("159", {"user.fields": "subscribes_to_you"}) is not None
