"""tweepy 4.17's Client, unchanged, against the emulator over loopback (REFERENCE §5.4 #1)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import tweepy

from followflow.emulator import Emulator, EmulatorServer

PUBLIC = ("https://api.twitter.com", "https://api.x.com")


class Rerouted(requests.Session):
    """Sends tweepy's hard-coded https://api.twitter.com requests to the local emulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        url = url.decode() if isinstance(url, bytes) else url
        for public in PUBLIC:
            if url.startswith(public):
                url = self.base_url + url[len(public) :]
        return super().request(method, url, *args, **kwargs)


def client_for(
    emu: Emulator, server: EmulatorServer, username: str | None = None, **kw: Any
) -> tweepy.Client:
    creds: dict[str, str] = {"bearer_token": emu.app.bearer_token}
    if username is not None:
        account = emu.account(username)
        creds.update(
            consumer_key=emu.app.consumer_key,
            consumer_secret=emu.app.consumer_secret,
            access_token=account.access_token,
            access_token_secret=account.access_token_secret,
        )
    client = tweepy.Client(**creds, **kw)
    client.session = Rerouted(server.base_url)
    return client


@pytest.fixture
def live() -> Iterator[tuple[Emulator, EmulatorServer]]:
    emu = Emulator.create(seed=1)  # wall clock: tweepy sleeps for real
    with EmulatorServer(emu) as server:
        yield emu, server


def test_paginator_returns_exactly_followers_count(live: tuple[Emulator, EmulatorServer]) -> None:
    emu, server = live
    client = client_for(emu, server)
    demo = emu.account("ff_demo")
    me = client.get_user(id=demo.id, user_fields=["public_metrics"])
    expected = me.data.public_metrics["followers_count"]
    users = list(
        tweepy.Paginator(
            client.get_users_followers,
            demo.id,
            max_results=1000,
            user_fields=["created_at", "public_metrics", "pinned_tweet_id", "protected"],
            expansions=["pinned_tweet_id"],
            tweet_fields=["created_at"],
        ).flatten()
    )
    assert len(users) == expected == len({u.id for u in users})
    assert [u.id for u in users] == emu.truth_followers(demo.id)
    assert all(u.created_at is not None for u in users)  # tweepy parsed the milliseconds


def test_follow_and_unfollow_with_oauth1(live: tuple[Emulator, EmulatorServer]) -> None:
    emu, server = live
    client = client_for(emu, server, "ff_alice")
    alice = emu.account("ff_alice")
    following = set(emu.truth_following(alice.id))
    protected = emu.services.profiles.protected
    target = next(
        i
        for i in emu.truth_followers(alice.id)
        if i not in following and not protected(emu.world.index_of_id(i) or 0)
    )
    followed = client.follow_user(target)
    assert followed.data == {"following": True, "pending_follow": False}
    assert emu.truth_following(alice.id)[0] == target
    unfollowed = client.unfollow_user(target)
    assert unfollowed.data == {"following": False}
    assert target not in emu.truth_following(alice.id)
    assert [r.result for r in emu.action_log] == ["following", "unfollowed"]
    assert client.get_me().data.username == "ff_alice"


def test_wait_on_rate_limit_waits_out_a_short_window() -> None:
    emu = Emulator.create(seed=1, window_seconds=2.0)
    with EmulatorServer(emu) as server:
        client = client_for(emu, server, wait_on_rate_limit=True)
        account = emu.account("ff_999")
        started = time.monotonic()
        pages = list(tweepy.Paginator(client.get_users_followers, account.id, max_results=50))
        elapsed = time.monotonic() - started
    assert sum(len(p.data) for p in pages) == 999  # 20 requests through a 15-per-window limit
    assert elapsed >= 1.0  # it really waited for the reset
