"""The client against the emulator in-process (MockTransport) and over loopback."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import SecretStr

from followflow.clock import ManualClock
from followflow.settings import Settings
from followflow.xapi.auth import BearerAuth, OAuth1Auth, OAuth2UserAuth
from followflow.xapi.client import XClient
from followflow.xapi.errors import DailyCapReached, UserNotFound, XAPIError
from followflow.xapi.tokens import FileTokenStore, OAuth2Tokens

emulator_app = pytest.importorskip("followflow.emulator.app")
Emulator = emulator_app.Emulator


class Recorder:
    """Wraps the emulator's handler and keeps (time, status, headers, request) of each call."""

    def __init__(self, emu: Any, clock: ManualClock) -> None:
        self.emu = emu
        self.clock = clock
        self.calls: list[tuple[float, int, httpx.Headers, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self.emu.handle(request)
        self.calls.append((self.clock.now, response.status_code, response.headers, request))
        return response

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _, _ in self.calls)


def make_emulator(clock: ManualClock, **kwargs: Any) -> Any:
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("size", "demo")
    return Emulator.create(clock=clock, **kwargs)


def oauth1_for(emu: Any, username: str, clock: ManualClock) -> OAuth1Auth:
    app, account = emu.app, emu.account(username)
    return OAuth1Auth(
        app.consumer_key,
        app.consumer_secret,
        account.access_token,
        account.access_token_secret,
        clock=clock,
    )


def test_long_read_fills_every_window_without_a_429(make_client: Any, clock: ManualClock) -> None:
    emu = make_emulator(clock, preset="v2-2023", window_seconds=900.0)
    recorder = Recorder(emu, clock)
    demo = emu.account("ff_demo")
    client = make_client(recorder, BearerAuth(emu.app.bearer_token))
    start = clock.now
    ids: list[int] = []
    for page in client.iter_pages("followers", demo.id, max_results=50):
        ids.extend(page.user_ids.to_pylist())
    assert ids == emu.truth_followers(demo.id)
    assert recorder.statuses() == Counter({200: len(recorder.calls)})
    per_window = Counter(headers["x-rate-limit-reset"] for _, _, headers, _ in recorder.calls)
    limit = int(recorder.calls[0][2]["x-rate-limit-limit"])
    counts = [per_window[k] for k in sorted(per_window)]
    assert len(counts) >= 3
    assert all(c >= 0.99 * limit for c in counts[:-1])  # every full window used completely
    windows_needed = -(-len(recorder.calls) // limit)
    ideal = (windows_needed - 1) * 900.0
    assert ideal <= clock.now - start <= ideal + (windows_needed - 1) * 1.0 + 1.0


def test_oauth1_follow_and_unfollow(make_client: Any, clock: ManualClock) -> None:
    emu = make_emulator(clock)
    recorder = Recorder(emu, clock)
    bob = emu.account("ff_bob")
    client = make_client(recorder, oauth1_for(emu, "ff_bob", clock))
    following = set(emu.truth_following(bob.id))
    target = next(u for u in emu.truth_followers(bob.id) if u not in following)
    result = client.follow(bob.id, target)
    assert result.following or result.pending_follow
    assert (target in emu.truth_following(bob.id)) == result.following
    assert client.follow(bob.id, target) == result  # X: "succeeds with no action"
    assert client.unfollow(bob.id, target).following is False
    assert target not in emu.truth_following(bob.id)
    assert [r.action for r in emu.action_log][-1] == "unfollow"
    me = client.me()
    assert (me.id, me.username) == (bob.id, "ff_bob")


def test_follow_stops_at_the_app_daily_cap_with_its_reset(
    make_client: Any, clock: ManualClock
) -> None:
    emu = make_emulator(clock)
    emu.set_day_cap("follow", "app", 2)
    recorder = Recorder(emu, clock)
    alice = emu.account("ff_alice")
    client = make_client(recorder, oauth1_for(emu, "ff_alice", clock))
    following = set(emu.truth_following(alice.id))
    targets = [u for u in emu.truth_followers(alice.id) if u not in following][:4]
    sent_before = len(recorder.calls)
    done = 0
    with pytest.raises(DailyCapReached) as caught:
        for target in targets:
            client.follow(alice.id, target)
            done += 1
    assert done == 2
    assert caught.value.cap == "app"
    assert caught.value.reset_at == pytest.approx(clock.now + 86_400, abs=1)
    assert clock.slept == []  # never slept on a daily cap
    assert len(recorder.calls) - sent_before == 2  # the spent cap was known: third not sent
    # A process that does not know yet sends once, gets the cap 429, and stops there.
    fresh = make_client(recorder, oauth1_for(emu, "ff_alice", clock))
    with pytest.raises(DailyCapReached) as again:
        fresh.follow(alice.id, targets[3])
    assert len(recorder.calls) - sent_before == 3 and recorder.calls[-1][1] == 429
    assert (again.value.cap, again.value.reset_at) == ("app", caught.value.reset_at)
    assert clock.slept == []


def test_unknown_account(make_client: Any, clock: ManualClock) -> None:
    emu = make_emulator(clock)
    client = make_client(Recorder(emu, clock), BearerAuth(emu.app.bearer_token))
    with pytest.raises(UserNotFound):
        client.get_page("followers", 9_999_999_999_999_999)
    lookup = client.lookup_users([emu.account("ff_one").id, 9_999_999_999_999_999])
    assert [u.username for u in lookup.users] == ["ff_one"]
    assert lookup.missing[0].resource_id == "9999999999999999"


@pytest.fixture
def oauth2_store(tmp_path: Path) -> FileTokenStore:
    return FileTokenStore(tmp_path / "tokens.json")


def oauth2_auth(
    emu: Any, username: str, store: FileTokenStore, clock: ManualClock
) -> OAuth2UserAuth:
    account = emu.account(username)
    if store.load(account.id) is None:
        store.save(
            OAuth2Tokens(
                access_token=SecretStr(account.oauth2_access_token),
                refresh_token=SecretStr(account.oauth2_refresh_token),
                expires_at=clock.now + 7200,
                scope="follows.read follows.write users.read tweet.read offline.access",
                user_id=account.id,
                username=username,
            )
        )
    return OAuth2UserAuth(
        store=store,
        token_url="https://api.x.com/2/oauth2/token",
        client_id=emu.app.client_id,
        client_secret=SecretStr(emu.app.client_secret),
        user_id=account.id,
        clock=clock,
    )


def test_oauth2_refresh_during_a_long_read(
    make_client: Any, clock: ManualClock, oauth2_store: FileTokenStore
) -> None:
    emu = make_emulator(clock, preset="v2-2023")
    recorder = Recorder(emu, clock)
    demo = emu.account("ff_demo")
    auth = oauth2_auth(emu, "ff_demo", oauth2_store, clock)
    client = make_client(recorder, auth)
    ids = [
        i
        for page in client.iter_pages("followers", demo.id, max_results=20)
        for i in page.user_ids.to_pylist()
    ]
    assert ids == emu.truth_followers(demo.id)
    assert clock.now - recorder.calls[0][0] > 7200  # the read outlived the access token
    assert auth.refreshes >= 1
    stored = oauth2_store.load(demo.id)
    assert stored is not None and stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() != demo.oauth2_refresh_token
    assert 401 not in recorder.statuses() and 429 not in recorder.statuses()
    # "Killed right after the refresh": a new process reads the store and carries on.
    restarted = make_client(recorder, oauth2_auth(emu, "ff_demo", oauth2_store, clock))
    assert restarted.me().id == demo.id
    # The spent refresh token is really spent at the emulator.
    with httpx.Client(transport=httpx.MockTransport(emu.handle)) as http:
        spent = http.post(
            "https://api.x.com/2/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": demo.oauth2_refresh_token,
                "client_id": emu.app.client_id,
            },
            auth=(emu.app.client_id, emu.app.client_secret),
        )
    assert spent.status_code == 400


@pytest.fixture
def server_emulator() -> Iterator[tuple[Any, str]]:
    server_mod = pytest.importorskip("followflow.emulator.server")
    emu = Emulator.create(seed=1, size="demo")
    with server_mod.EmulatorServer(emu, host="127.0.0.1", port=0) as server:
        yield emu, server.base_url


def test_pkce_login_end_to_end_over_loopback(
    settings: Settings, tmp_path: Path, server_emulator: tuple[Any, str]
) -> None:
    from followflow.xapi.oauth2_login import login, status
    from tests.xapi.test_login import free_port

    emu, base_url = server_emulator
    s = settings.model_copy(
        update={
            "x_base_url": base_url,
            "client_id": emu.app.client_id,
            "client_secret": SecretStr(emu.app.client_secret),
            "oauth2_redirect_port": free_port(),
            "token_store_path": tmp_path / "tokens.json",
        }
    )

    def human(url: str) -> None:  # the emulator consents for `as_user`
        httpx.get(url + "&as_user=ff_alice", follow_redirects=True, timeout=10)

    printed: list[str] = []
    tokens = login(s, open_browser=True, out=printed.append, browser=human, timeout_s=15)
    alice = emu.account("ff_alice")
    assert (tokens.user_id, tokens.username) == (alice.id, "ff_alice")
    report = status(s)
    assert "@ff_alice" in report and "confirmed by X" in report
    with XClient.from_settings(s, for_writes=True) as client:
        assert client.principal == f"user-{alice.id}"
        assert client.get_page("following", alice.id, max_results=5).result_count == 5


def test_no_secret_in_logs_or_errors(
    settings: Settings,
    tmp_path: Path,
    server_emulator: tuple[Any, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DEBUG everywhere (httpx, httpcore included): no credential, code or signature leaks."""
    from followflow.xapi.oauth2_login import login, status
    from tests.xapi.test_login import free_port

    emu, base_url = server_emulator
    app, demo, bob = emu.app, emu.account("ff_demo"), emu.account("ff_bob")
    sent: list[httpx.Request] = []

    class Spy(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return super().handle_request(request)

    s = settings.model_copy(
        update={
            "x_base_url": base_url,
            "bearer_token": SecretStr(app.bearer_token),
            "consumer_key": SecretStr(app.consumer_key),
            "consumer_secret": SecretStr(app.consumer_secret),
            "access_token": SecretStr(bob.access_token),
            "access_token_secret": SecretStr(bob.access_token_secret),
            "client_id": app.client_id,
            "client_secret": SecretStr(app.client_secret),
            "oauth2_redirect_port": free_port(),
            "token_store_path": tmp_path / "tokens.json",
        }
    )
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for name in ("httpx", "httpcore", "followflow"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        with XClient.from_settings(s, transport=Spy()) as reader:
            reader.get_page("followers", demo.id, max_results=10)
            reader.lookup_usernames(["ff_demo", "nobody_here_x"])
        with XClient.from_settings(s, for_writes=True, transport=Spy()) as writer:
            target = emu.truth_followers(bob.id)[0]
            writer.follow(bob.id, target)
            writer.unfollow(bob.id, target)
            try:
                writer.follow(bob.id + 1, target)  # not the authenticated user
            except XAPIError as error:
                errors.append(repr(error) + str(error))
        login(
            s,
            open_browser=True,
            out=errors.append,
            timeout_s=15,
            browser=lambda url: httpx.get(
                url + "&as_user=ff_demo", follow_redirects=True, timeout=10
            ),
        )
        errors.append(status(s))
        wrong = s.model_copy(update={"bearer_token": SecretStr("AAAA-not-a-real-token-zzzz")})
        with XClient.from_settings(wrong, transport=Spy()) as bad:
            try:
                bad.get_page("followers", demo.id)
            except XAPIError as error:
                errors.append(repr(error) + str(error))
    stored = FileTokenStore(s.token_store_path).load()
    assert stored is not None and stored.refresh_token is not None
    secrets_ = {
        app.bearer_token,
        app.consumer_secret,
        app.client_secret,
        bob.access_token_secret,
        bob.access_token,
        demo.oauth2_access_token,
        demo.oauth2_refresh_token,
        stored.access_token.get_secret_value(),
        stored.refresh_token.get_secret_value(),
        "AAAA-not-a-real-token-zzzz",
    }
    for request in sent:
        header = request.headers.get("Authorization", "")
        if header.startswith("OAuth "):
            signature = header.split('oauth_signature="')[1].split('"')[0]
            secrets_ |= {signature, unquote(signature)}
    assert len(caplog.records) > 10
    text = "\n".join(
        [r.getMessage() + (r.exc_text or "") + str(r.args) for r in caplog.records] + errors
    )
    leaked = sorted(s for s in secrets_ if s and s in text)
    assert leaked == []


def test_fault_mix_read_is_exact_or_a_clear_error(make_client: Any, clock: ManualClock) -> None:
    emu = make_emulator(clock, preset="v2-2026")
    emu.set_faults("seed=7,p=0.2,kinds=500+502+503+504+reset+slow+truncate+429bare")
    recorder = Recorder(emu, clock)
    demo = emu.account("ff_demo")
    client = make_client(recorder, BearerAuth(emu.app.bearer_token), max_retries=6)
    ids = [
        i
        for page in client.iter_pages("followers", demo.id, max_results=100)
        for i in page.user_ids.to_pylist()
    ]
    assert ids == emu.truth_followers(demo.id)
    statuses = recorder.statuses()
    assert statuses[200] >= 30 and (statuses[429] + statuses[500] + statuses[503]) > 0
    assert len(clock.slept) > 0 and max(clock.slept) <= 60.0


def test_two_readers_sharing_a_token_see_at_most_one_429_each_per_window(
    make_client: Any, clock: ManualClock
) -> None:
    """Two processes' clients (separate rate-limit state) interleaving on one app token."""
    emu = make_emulator(clock, preset="v2-2023")
    demo, alice = emu.account("ff_demo"), emu.account("ff_alice")
    recorders = [Recorder(emu, clock), Recorder(emu, clock)]
    clients = [make_client(r, BearerAuth(emu.app.bearer_token)) for r in recorders]
    readers = [
        clients[0].iter_pages("followers", demo.id, max_results=200),
        clients[1].iter_pages("followers", alice.id, max_results=50),
    ]
    got: list[list[int]] = [[], []]
    live = [True, True]
    for _ in range(200):
        if not any(live):
            break
        for n in (0, 1):
            if live[n]:
                page = next(readers[n], None)
                if page is None:
                    live[n] = False
                else:
                    got[n].extend(page.user_ids.to_pylist())
    assert got == [emu.truth_followers(demo.id), emu.truth_followers(alice.id)]
    for recorder in recorders:
        windows_429 = Counter(
            h["x-rate-limit-reset"] for _, st, h, _ in recorder.calls if st == 429
        )
        assert max(windows_429.values(), default=0) <= 1
    assert any(st == 429 for r in recorders for _, st, _, _ in r.calls)  # they did contend
    ok = Counter(h["x-rate-limit-reset"] for r in recorders for _, st, h, _ in r.calls if st == 200)
    assert all(ok[reset] == 15 for reset in sorted(ok)[:-1])  # together: the full limit
    assert sum(ok.values()) == sum(len(r.calls) for r in recorders) - sum(
        1 for r in recorders for _, st, _, _ in r.calls if st == 429
    )
