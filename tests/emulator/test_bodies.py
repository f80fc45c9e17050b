"""Every endpoint's bodies against both OpenAPI subsets and the recorded fixtures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator

from .helpers import (
    ALL_USER_FIELDS,
    DEFAULT_FIELDS,
    XAPI,
    bearer_client,
    need_specs,
    user_client,
    validate_200,
)

FOLLOWERS = "/2/users/{id}/followers"
FOLLOWING = "/2/users/{id}/following"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def fixture(name: str) -> Any:
    need_specs()
    return json.loads((XAPI / "fixtures" / name).read_text())


def recorded(cassette_part: str, method: str = "GET") -> dict[str, Any]:
    for entry in fixture("tweepy-cassettes-decoded.json")["recorded"]:
        if cassette_part in entry["cassette"] and entry["request"]["method"] == method:
            return entry  # type: ignore[no-any-return]
    raise KeyError(cassette_part)


def observed(case_start: str) -> dict[str, Any]:
    for entry in fixture("observed-errors.json")["errors"]:
        if entry["case"].startswith(case_start):
            return entry  # type: ignore[no-any-return]
    raise KeyError(case_start)


def test_followers_default_fields_match_the_recorded_shape(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        response = client.get(f"/2/users/{demo.id}/followers")
    body = response.json()
    validate_200(body, FOLLOWERS)
    real = recorded("get_users_followers")
    assert response.headers["content-type"] == real["headers"]["content-type"]
    assert response.headers["x-rate-limit-limit"] == real["headers"]["x-rate-limit-limit"] == "15"
    assert len(body["data"]) == 100  # X's default page size, as recorded
    assert {tuple(sorted(u)) for u in body["data"]} == {("id", "name", "username")}
    assert set(body["meta"]) == set(real["body"]["meta"]) == {"result_count", "next_token"}
    assert len(body["meta"]["next_token"]) >= 16
    assert all(isinstance(u["id"], str) and u["id"].isdigit() for u in body["data"])


@pytest.mark.parametrize(
    "params",
    [
        {"user.fields": DEFAULT_FIELDS},
        # twarc / tweepy generation (v2.159)
        {
            "user.fields": ALL_USER_FIELDS,
            "expansions": "pinned_tweet_id,most_recent_tweet_id",
            "tweet.fields": "created_at,public_metrics,author_id,lang,edit_controls,"
            "conversation_id,possibly_sensitive,reply_settings,entities",
        },
        # xdk generation (v2.167)
        {
            "user.fields": "created_at,public_metrics,subscribes_to_you,subscription,"
            "verified_followers_count,connection_status",
            "expansions": "pinned_post_id,most_recent_post_id,affiliation",
            "post.fields": "created_at,public_metrics,lang,article_title,paid_partnership",
        },
    ],
    ids=["default", "v2.159", "v2.167"],
)
@pytest.mark.parametrize("path", [FOLLOWERS, FOLLOWING])
def test_list_bodies_with_fields_validate(
    emulator: Emulator, params: dict[str, str], path: str
) -> None:
    alice = emulator.account("ff_alice")
    with user_client(emulator, "ff_alice") as client:
        response = client.get(path.format(id=alice.id), params={"max_results": 1000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    validate_200(body, path)
    for user in body["data"]:
        assert CREATED_AT.match(user["created_at"])
        metrics = user["public_metrics"]
        assert metrics["tweet_count"] == metrics["post_count"]  # both generations' names
    new = "post.fields" in params
    includes_key, id_key = ("posts", "pinned_post_id") if new else ("tweets", "pinned_tweet_id")
    if "expansions" in params:
        pinned = [u for u in body["data"] if id_key in u]
        assert pinned, "some users have a pinned post"
        posts = {p["id"]: p for p in body["includes"][includes_key]}
        assert all(u[id_key] in posts for u in pinned)
        assert set(body["includes"]) == {includes_key}
        post = next(iter(posts.values()))
        assert ("edit_history_tweet_ids" in post) is not new  # tweepy warns without it
        assert CREATED_AT.match(post["created_at"])
    if "connection_status" in params.get("user.fields", ""):
        # alice's followers list: each of them follows her.
        follower_rel = {tuple(u["connection_status"]) for u in body["data"]}
        if path == FOLLOWERS:
            assert all("followed_by" in rel for rel in follower_rel)
        else:
            assert all("following" in rel for rel in follower_rel)


def test_public_metrics_match_the_graph(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        me = client.get(f"/2/users/{demo.id}", params={"user.fields": "public_metrics"}).json()[
            "data"
        ]
        page = client.get(
            f"/2/users/{demo.id}/followers",
            params={"max_results": 5, "user.fields": "public_metrics"},
        ).json()["data"]
    assert me["public_metrics"]["followers_count"] == len(emulator.truth_followers(demo.id))
    assert me["public_metrics"]["following_count"] == len(emulator.truth_following(demo.id))
    for user in page:  # non-owned users: counts equal what their own lists hold
        uid = int(user["id"])
        assert user["public_metrics"]["followers_count"] == len(emulator.truth_followers(uid))
        assert user["public_metrics"]["following_count"] == len(emulator.truth_following(uid))


def test_empty_list_is_meta_only(emulator: Emulator) -> None:
    zero = emulator.account("ff_zero")
    with bearer_client(emulator) as client:
        body = client.get(f"/2/users/{zero.id}/followers").json()
    assert body == {"meta": {"result_count": 0}}
    validate_200(body, FOLLOWERS)


def test_follow_and_unfollow_bodies(emulator: Emulator) -> None:
    demo, bob = emulator.account("ff_demo"), emulator.account("ff_bob")
    with user_client(emulator, "ff_demo") as client:
        followed = client.post(
            f"/2/users/{demo.id}/following", json={"target_user_id": str(bob.id)}
        )
        unfollowed = client.delete(f"/2/users/{demo.id}/following/{bob.id}")
    for response, real in (
        (followed, recorded("follow_and_unfollow", "POST")),
        (unfollowed, recorded("follow_and_unfollow", "DELETE")),
    ):
        assert response.status_code == real["status"] == 200
        assert response.json() == real["body"]
        assert response.headers["content-type"] == real["headers"]["content-type"]
        assert response.headers["x-rate-limit-limit"] == real["headers"]["x-rate-limit-limit"]
    validate_200(followed.json(), "/2/users/{id}/following", "post")
    validate_200(
        unfollowed.json(), "/2/users/{source_user_id}/following/{target_user_id}", "delete"
    )


def test_lookup_bodies(emulator: Emulator) -> None:
    demo, alice = emulator.account("ff_demo"), emulator.account("ff_alice")
    with user_client(emulator, "ff_demo") as client:
        me = client.get("/2/users/me")
        one = client.get(f"/2/users/{alice.id}", params={"user.fields": DEFAULT_FIELDS})
        by_name = client.get("/2/users/by/username/FF_ALICE")
        many = client.get("/2/users", params={"ids": f"{demo.id},{alice.id}"})
        names = client.get("/2/users/by", params={"usernames": "ff_demo,ff_alice"})
    assert me.json() == {
        "data": {"id": str(demo.id), "name": "followflow demo", "username": "ff_demo"}
    }
    assert me.headers["x-rate-limit-limit"] == recorded("get_me")["headers"]["x-rate-limit-limit"]
    assert by_name.json()["data"]["username"] == "ff_alice"  # usernames are case-insensitive
    assert [u["username"] for u in many.json()["data"]] == ["ff_demo", "ff_alice"]
    assert [u["username"] for u in names.json()["data"]] == ["ff_demo", "ff_alice"]
    assert set(recorded("get_users.yaml")["body"]) == set(names.json()) == {"data"}
    validate_200(me.json(), "/2/users/me")
    validate_200(one.json(), "/2/users/{id}")
    validate_200(by_name.json(), "/2/users/by/username/{username}")
    validate_200(many.json(), "/2/users")
    validate_200(names.json(), "/2/users/by")


@pytest.mark.parametrize("preset", ["v2-2023", "v2-2026"])
def test_unknown_users_are_200_with_not_found_entries(clock: ManualClock, preset: str) -> None:
    emu = Emulator.create(seed=1, clock=clock, preset=preset)
    demo = emu.account("ff_demo")
    with bearer_client(emu) as client:
        single = client.get("/2/users/by/username/nonexist")
        by_id = client.get("/2/users/2244994946")
        many = client.get("/2/users", params={"ids": f"{demo.id},2244994946"})
        names = client.get("/2/users/by", params={"usernames": "ff_demo,nonexist"})
        followers = client.get("/2/users/2244994946/followers")
    real = observed("200 single-user lookup, unknown username")["body"]
    if preset == "v2-2023":
        assert single.json() == real  # byte for byte the recorded body
    else:
        entry = single.json()["errors"][0]
        assert entry["type"] == "https://api.x.com/2/problems/resource-not-found"
    assert by_id.json()["errors"][0]["detail"] == "Could not find user with id: [2244994946]."
    assert set(by_id.json()["errors"][0]) == set(real["errors"][0])
    assert many.json()["data"][0]["username"] == "ff_demo"
    assert many.json()["errors"][0]["parameter"] == "ids"
    assert names.json()["errors"][0]["value"] == "nonexist"
    assert followers.json()["errors"][0]["parameter"] == "id"
    for response in (single, by_id, many, names, followers):
        assert response.status_code == 200
    # api.twitter.com problem types (observed) fit only v2.159's Problem; v2.167 pins api.x.com.
    versions = ("159", "167") if preset == "v2-2026" else ("159",)
    validate_200(single.json(), "/2/users/by/username/{username}", versions=versions)
    validate_200(by_id.json(), "/2/users/{id}", versions=versions)
    validate_200(many.json(), "/2/users", versions=versions)
    validate_200(names.json(), "/2/users/by", versions=versions)
    validate_200(followers.json(), FOLLOWERS, versions=versions)


def test_error_bodies_match_observations(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        bad_params = client.get(
            f"/2/users/{demo.id}/followers",
            params={"next_token": "x", "user.fields": "wrong_field", "max_results": "5000"},
        )
        bad_name = client.get("/2/users/by/username/giorgdcsadsacsacdsani")
        app_only_follow = client.post(f"/2/users/{demo.id}/following", json={"target_user_id": "1"})
        app_only_unfollow = client.delete(f"/2/users/{demo.id}/following/1")
        app_only_me = client.get("/2/users/me")
        no_auth = client.get("/2/users/me", headers={"Authorization": "Bearer nope"})
    assert bad_params.status_code == 400
    body = bad_params.json()
    shape = observed("400 invalid request: unknown query parameter")["body"]
    assert set(body) == set(shape)
    assert body["title"] == shape["title"] and body["detail"] == shape["detail"]
    messages = [e["message"] for e in body["errors"]]
    assert messages[0].startswith("The query parameter [next_token] is not one of [id,max_results")
    assert messages[1].startswith(
        "The `user.fields` query parameter value [wrong_field] is not one of ["
    )
    assert messages[2] == "The `max_results` query parameter value [5000] is not between 1 and 1000"
    assert body["errors"][0]["parameters"] == {"next_token": ["x"]}
    assert bad_params.headers["content-type"] == "application/json; charset=utf-8"
    assert bad_name.json()["errors"][0]["message"] == (
        "The `username` query parameter value [giorgdcsadsacsacdsani] does not match "
        "^[A-Za-z0-9_]{1,15}$"
    )
    unsupported = observed("403 app-only bearer")
    for response in (app_only_follow, app_only_unfollow, app_only_me):
        assert response.status_code == 403
        assert response.json() == unsupported["body"]
        assert response.headers["content-type"] == "application/problem+json"
        assert "x-rate-limit-remaining" in response.headers
    assert no_auth.status_code == 401
    assert no_auth.json() == observed("401")["body"]
    assert "x-rate-limit-reset" in no_auth.headers


def test_unknown_route_is_404(emulator: Emulator) -> None:
    with bearer_client(emulator) as client:
        response = client.get("/2/tweets/search/all")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 34
