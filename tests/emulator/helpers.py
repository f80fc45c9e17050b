"""Test helpers for the emulator: clients, OAuth 1.0a signing, OpenAPI validation."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import httpx
import pytest
from oauthlib.oauth1 import Client as OAuth1Client

from followflow.emulator import Emulator, OwnedAccount
from tests.shared import XAPI

SPECS = ("159", "167")
BASE = "https://api.twitter.com"
DEFAULT_FIELDS = (
    "created_at,description,location,url,protected,verified,verified_type,"
    "profile_image_url,public_metrics"
)
ALL_USER_FIELDS = (
    "affiliation,connection_status,created_at,description,entities,id,is_identity_verified,"
    "location,most_recent_tweet_id,name,parody,pinned_tweet_id,profile_banner_url,"
    "profile_image_url,protected,public_metrics,receives_your_dm,subscription,"
    "subscription_type,url,username,verified,verified_followers_count,verified_type,withheld"
)


class OAuth1(httpx.Auth):
    """OAuth 1.0a HMAC-SHA1 signing as requests-oauthlib does it (JSON bodies unsigned)."""

    def __init__(self, emu: Emulator, account: OwnedAccount) -> None:
        self._client = OAuth1Client(
            emu.app.consumer_key,
            emu.app.consumer_secret,
            account.access_token,
            account.access_token_secret,
        )

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        _, headers, _ = self._client.sign(str(request.url), request.method)
        request.headers["Authorization"] = headers["Authorization"]
        yield request


def bearer_client(emu: Emulator, base_url: str = BASE) -> httpx.Client:
    """App-only, in-process."""
    return httpx.Client(
        base_url=base_url,
        transport=httpx.MockTransport(emu.handle),
        headers={"Authorization": f"Bearer {emu.app.bearer_token}"},
    )


def user_client(emu: Emulator, username: str, base_url: str = BASE) -> httpx.Client:
    """OAuth 1.0a user context for an owned account, in-process."""
    return httpx.Client(
        base_url=base_url,
        transport=httpx.MockTransport(emu.handle),
        auth=OAuth1(emu, emu.account(username)),
    )


def all_pages(
    client: httpx.Client, kind: str, user_id: int, max_results: int = 1000, **params: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every id of a list, following next_token; also the raw bodies."""
    ids: list[str] = []
    bodies = []
    query: dict[str, Any] = {"max_results": max_results, **params}
    while True:
        response = client.get(f"/2/users/{user_id}/{kind}", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        ids += [u["id"] for u in body.get("data", [])]
        token = body["meta"].get("next_token")
        if token is None:
            return ids, bodies
        query["pagination_token"] = token


@cache
def _spec(version: str) -> dict[str, Any]:
    return json.loads((XAPI / f"openapi-follows-v2.{version}.json").read_text())  # type: ignore[no-any-return]


def need_specs() -> None:
    if not (XAPI / "openapi-follows-v2.167.json").exists():
        pytest.skip(f"X OpenAPI subsets not found at {XAPI.resolve()} (shared/xapi absent)")


def validate_200(
    body: Any, path: str, method: str = "get", versions: tuple[str, ...] = SPECS
) -> None:
    """Validate a 200 body against the path's response schema in each spec version."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    need_specs()
    for version in versions:
        spec = _spec(version)
        ref = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]["$ref"]
        registry: Registry[Any] = Registry().with_resource(
            "spec", Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        validator = Draft202012Validator({"$ref": "spec" + ref}, registry=registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"v2.{version} {path}: {errors[0].message} at {list(errors[0].path)}"
