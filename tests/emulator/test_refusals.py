"""What X refuses, the emulator refuses: the four gaps generated requests found (issue 16)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.deviations import DEVIATIONS

from .helpers import bearer_client, user_client

OLD = "https://api.twitter.com/2/problems/"
NEW = "https://api.x.com/2/problems/"


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PUT", "PATCH", "CONNECT", "BREW"])
def test_undeclared_methods_get_json_over_loopback(emulator: Emulator, method: str) -> None:
    token = emulator.account("ff_demo").oauth2_access_token
    with EmulatorServer(emulator) as server:
        for path in ("/2/users/me", "/2/users/1/followers", "/nowhere"):
            response = httpx.request(
                method, server.base_url + path, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 404, (method, path)
            assert response.headers["content-type"] == "application/json; charset=utf-8"
            assert response.json() == {
                "errors": [{"message": "Sorry, that page does not exist", "code": 34}]
            }
            assert "x-rate-limit-limit" in response.headers


def test_head_gets_json_headers_and_no_body(emulator: Emulator) -> None:
    with EmulatorServer(emulator) as server:
        response = httpx.head(server.base_url + "/2/users/me")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.content == b""


def test_a_malformed_request_line_gets_a_json_problem(emulator: Emulator) -> None:
    with EmulatorServer(emulator) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /2/users/me HTTP/9.9\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 505 ")
    assert b"content-type: application/json; charset=utf-8" in head.lower()
    assert httpx.Response(505, content=body).json()["status"] == 505


def test_more_than_100_ids_are_refused_even_when_repeated(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        distinct = client.get("/2/users", params={"ids": ",".join(str(i) for i in range(1, 102))})
        repeated = client.get("/2/users", params={"ids": ",".join([str(demo.id)] * 101)})
        hundred = client.get("/2/users", params={"ids": ",".join([str(demo.id)] * 100)})
        names = client.get("/2/users/by", params={"usernames": ",".join(["ff_demo"] * 101)})
    for refused, kind in ((distinct, "ids"), (repeated, "ids"), (names, "usernames")):
        assert refused.status_code == 400
        body = refused.json()
        assert body["title"] == "Invalid Request"
        assert body["type"] == OLD + "invalid-request"
        assert list(body["errors"][0]["parameters"]) == [kind]
        assert "[101] is not between 1 and 100" in body["errors"][0]["message"]
    assert hundred.status_code == 200
    assert [u["id"] for u in hundred.json()["data"]] == [str(demo.id)]  # each user once


@pytest.mark.parametrize(
    ("name", "value", "repeated"),
    [
        ("user.fields", "id,created_at,id", "id"),
        ("expansions", "pinned_tweet_id,pinned_tweet_id", "pinned_tweet_id"),
        ("tweet.fields", "text,text", "text"),
        ("post.fields", "text,lang,text", "text"),
    ],
)
def test_repeated_field_values_are_refused(
    emulator: Emulator, name: str, value: str, repeated: str
) -> None:
    with user_client(emulator, "ff_demo") as client:
        response = client.get("/2/users/me", params={name: value})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == OLD + "invalid-request"
    assert body["errors"] == [
        {
            "parameters": {name: [repeated]},
            "message": f"The `{name}` query parameter value [{repeated}] is duplicated",
        }
    ]


def test_a_value_repeated_across_two_spellings_of_the_list_is_refused(emulator: Emulator) -> None:
    with user_client(emulator, "ff_demo") as client:
        twice = client.get("/2/users/me?user.fields=id&user.fields=id")
        distinct = client.get("/2/users/me?user.fields=id&user.fields=created_at")
    assert twice.status_code == 400
    assert distinct.status_code == 200 and "created_at" in distinct.json()["data"]


@pytest.mark.parametrize(("preset", "host"), [("v2-2023", OLD), ("v2-2026", NEW)])
def test_one_problem_host_per_preset_whatever_the_request_spells(
    clock: ManualClock, preset: str, host: str
) -> None:
    emu = Emulator.create(seed=1, clock=clock, preset=preset)
    demo = emu.account("ff_demo")
    types: set[str] = set()
    with bearer_client(emu) as client:
        for params in ({"user.fields": "nope"}, {"post.fields": "nope"}, {"tweet.fields": "nope"}):
            types.add(client.get("/2/users/me", params=params).json().get("type", ""))
            types.add(client.get(f"/2/users/{demo.id}/followers", params=params).json()["type"])
        for params in ({"post.fields": "text"}, {"expansions": "pinned_post_id"}, {}):
            missing = client.get("/2/users/by/username/nonexist", params=params).json()
            types.add(missing["errors"][0]["type"])
        types.add(client.post(f"/2/users/{demo.id}/following", json={}).json()["type"])
    with user_client(emu, "ff_demo") as client:
        types.add(client.get("/2/users/me", params={"post.fields": "nope"}).json()["type"])
    hosts = {t.rsplit("/", 1)[0] + "/" for t in types if t.startswith("https://")}
    assert hosts == {host}, types
    assert host + "unsupported-authentication" in types


def test_the_readme_lists_exactly_the_deviations_of_the_package() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The X API emulator", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- `([a-z0-9-]+)`:", section, flags=re.MULTILINE)
    assert listed == [d.name for d in DEVIATIONS]
    for deviation in DEVIATIONS:
        assert deviation.spec and deviation.x and "REFERENCE" in deviation.evidence
