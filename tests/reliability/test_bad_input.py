"""Bad input of every kind through the real CLI: one clear line, a non-zero exit, no harm.

Every row runs `followflow ...` in a child process on its own copy of a database that
already holds a complete snapshot. The row passes when the exit code is the expected
non-zero one, the last stderr line is the one `followflow: error: ...` line (matching the
row's pattern), no traceback leaks, and the database still opens and holds the snapshot
it held before. The rows run four at a time (each child is mostly Python start-up).
RELIABILITY.md has the table; `print_table` below regenerates it (`-s`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.world import World as Graph
from tests.reliability.conftest import World, assert_clean_failure, query

pytestmark = pytest.mark.timeout(300)

NO_CREDENTIALS = {
    f"FOLLOWFLOW_{name}": ""
    for name in ("BEARER_TOKEN", "CONSUMER_KEY", "CONSUMER_SECRET", "ACCESS_TOKEN")
} | {"FOLLOWFLOW_ACCESS_TOKEN_SECRET": ""}


class CannotSimulate(Exception):
    """This machine cannot produce the bad input (the row is skipped, saying why)."""


@dataclass
class Row:
    """One bad input: how to make it, what the CLI must answer."""

    name: str
    args: list[str]
    code: int
    pattern: str
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[World, Path, dict[str, str]], Any] | None = None


def suspended_and_deactivated() -> tuple[str, str]:
    graph = Graph(1, "demo")
    found: dict[str, str] = {}
    for index in range(graph.universe - 1, graph.K, -1):
        found.setdefault(graph.status_of(index), graph.username_of(index))
        if "suspended" in found and "deactivated" in found:
            break
    return found["suspended"], found["deactivated"]


SUSPENDED, DEACTIVATED = suspended_and_deactivated()


def corrupt(world: World, db: Path, env: dict[str, str]) -> bytes:
    data = os.urandom(300_000)
    db.write_bytes(data)
    return data


def hold_lock(world: World, db: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def fill_disk(world: World, db: Path, env: dict[str, str]) -> Path:
    """Move the database onto a small tmpfs and fill it to the last 300 kB."""
    mount = world.tmp / "tiny-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        raise CannotSimulate("cannot mount a tmpfs here (needs root): disk full not simulated")
    moved = mount / db.name
    shutil.copy(db, moved)
    free = shutil.disk_usage(mount).free
    (mount / "filler").write_bytes(b"\0" * (free - 300_000))
    env["FOLLOWFLOW_DB_PATH"] = str(moved)
    return mount


def revoke_oauth2(world: World, db: Path, env: dict[str, str]) -> None:
    """ff_bob's OAuth 2.0 tokens in the store, both revoked at the emulator."""
    user, app = world.user("ff_bob"), world.manifest["app"]
    store = Path(env["FOLLOWFLOW_TOKEN_STORE_PATH"])
    document = {
        "default": str(user["id"]),
        "accounts": {
            str(user["id"]): {
                "access_token": user["oauth2_access_token"],
                "refresh_token": user["oauth2_refresh_token"],
                "expires_at": time.time() + 7200,
                "scope": "tweet.read users.read follows.read follows.write offline.access",
                "user_id": user["id"],
                "username": "ff_bob",
            }
        },
    }
    store.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(document, fh)
    for token in (user["oauth2_access_token"], user["oauth2_refresh_token"]):
        response = httpx.post(
            f"{world.server.base_url}/2/oauth2/revoke",
            data={"token": token, "client_id": app["client_id"]},
            auth=(app["client_id"], app["client_secret"]),
        )
        assert response.status_code == 200
    env["FOLLOWFLOW_CLIENT_ID"] = app["client_id"]


ROWS = [
    Row("unknown account", ["snapshot", "nobody_zz_123"], 1, r"no such account on X"),
    Row("suspended account", ["snapshot", SUSPENDED], 1, r"suspended on X"),
    Row("deactivated account", ["snapshot", DEACTIVATED], 1, r"no such account on X"),
    Row(
        "malformed setting: FOLLOWFLOW_MAX_RETRIES=abc",
        ["snapshot", "ff_bob"],
        2,
        r"FOLLOWFLOW_MAX_RETRIES: .*valid integer.*fix it",
        env={"FOLLOWFLOW_MAX_RETRIES": "abc"},
    ),
    Row(
        "malformed setting: FOLLOWFLOW_X_BASE_URL=notaurl",
        ["snapshot", "ff_bob"],
        2,
        r"FOLLOWFLOW_X_BASE_URL: .*notaurl.*fix it",
        env={"FOLLOWFLOW_X_BASE_URL": "notaurl"},
    ),
    Row(
        "setting out of bounds: FOLLOWFLOW_PAGE_SIZE=5000",
        ["snapshot", "ff_bob"],
        2,
        r"FOLLOWFLOW_PAGE_SIZE: .*less than or equal to 1000",
        env={"FOLLOWFLOW_PAGE_SIZE": "5000"},
    ),
    Row("bad parameter: account name", ["snapshot", "bad name!"], 2, r"not a username or user id"),
    Row(
        "bad parameter: 251 accounts in one run",
        ["snapshot", *(f"ff_fleet{i}" for i in range(251))],
        2,
        r"251 accounts in one run; at most 250: split them over several runs",
    ),
    Row(
        "bad parameter: --max-follows 9999",
        ["follow-back", "ff_demo", "--max-follows", "9999"],
        2,
        r"max_follows: .*less than or equal to 400",
    ),
    Row(
        "bad parameter: --lists everything",
        ["snapshot", "ff_bob", "--lists", "everything"],
        2,
        r"lists: Input should be 'followers', 'following' or 'both'",
    ),
    Row(
        "unknown option",
        ["snapshot", "ff_bob", "--fast"],
        2,
        r"No such option: --fast.*followflow snapshot --help",
    ),
    Row(
        "bad token (wrong Bearer)",
        ["snapshot", "ff_bob"],
        1,
        r"401 Unauthorized.*X refused the credentials.*followflow auth login",
        env={"FOLLOWFLOW_BEARER_TOKEN": "AAAAwrongtoken"},
    ),
    Row(
        "revoked OAuth 2.0 token",
        ["snapshot", "ff_bob"],
        1,
        r"refreshing the OAuth 2.0 token failed.*followflow auth login",
        env=NO_CREDENTIALS,
        setup=revoke_oauth2,
    ),
    Row(
        "user tokens of another account",
        ["follow-back", "ff_demo", "--live", "--yes"],
        1,
        r"FOLLOWFLOW_ACCESS_TOKEN is account \d+'s, not \d+'s: set .* of account \d+",
        env={"WRITER": "ff_bob"},
    ),
    Row(
        "missing credentials",
        ["snapshot", "ff_bob"],
        1,
        r"no credentials configured: set FOLLOWFLOW_CONSUMER_KEY",
        env=NO_CREDENTIALS,
    ),
    Row(
        "corrupt database file",
        ["snapshot", "ff_bob"],
        1,
        r"cannot read .*not a valid DuckDB database.*move the file aside",
        setup=corrupt,
    ),
    Row(
        "locked database file (held past FOLLOWFLOW_DB_LOCK_TIMEOUT_S=1)",
        ["snapshot", "ff_bob"],
        1,
        r"is locked by another process .*PID \d+.*FOLLOWFLOW_DB_LOCK_TIMEOUT_S",
        env={"FOLLOWFLOW_DB_LOCK_TIMEOUT_S": "1"},
        setup=hold_lock,
    ),
    Row(
        "disk full (16 MB tmpfs, filled)",
        ["snapshot", "ff_team9", "--lists", "followers"],
        1,
        r"cannot write .*no space left on device.*what was saved before is kept",
        setup=fill_disk,
    ),
    Row(
        "Prefect API unreachable",
        ["snapshot", "ff_bob"],
        1,
        r"Failed to reach API at http://127.0.0.1:9/api.*unset PREFECT_API_URL",
        env={"PREFECT_API_URL": "http://127.0.0.1:9/api"},
    ),
]


@dataclass
class Outcome:
    row: Row
    result: subprocess.CompletedProcess[str] | None  # None: could not be simulated
    db: Path
    kept: Any


def fingerprint(db: Path, accounts: set[int] | None = None) -> tuple[Any, ...]:
    """What the baseline holds: its complete snapshots and the followers they recorded."""
    snaps = query(db, "SELECT snapshot_id, kind FROM snapshots WHERE status = 'complete'")
    followers = query(db, "SELECT account_id, follower_id FROM current_followers ORDER BY ALL")
    if accounts is not None:  # a row may add other accounts; the baseline's must be intact
        followers = [row for row in followers if row[0] in accounts]
    return tuple(sorted(snaps)), tuple(followers)


def run_row(world: World, baseline: Path, row: Row, index: int) -> Outcome:
    db = world.tmp / f"row{index}.duckdb"
    shutil.copy(baseline, db)
    extra = dict(row.env)
    writer = extra.pop("WRITER", "ff_demo")
    env = world.env(
        writer=writer,
        FOLLOWFLOW_DB_PATH=str(db),
        FOLLOWFLOW_TOKEN_STORE_PATH=str(world.tmp / f"row{index}" / "tokens.json"),
    )
    env.update(extra)
    env = {k: v for k, v in env.items() if v != ""}
    try:
        kept = row.setup(world, db, env) if row.setup else None
    except CannotSimulate as why:
        return Outcome(row, None, db, str(why))
    try:
        result = world.run(row.args, env, timeout=180)
    finally:
        if isinstance(kept, subprocess.Popen):
            kept.kill()
            kept.communicate()
    return Outcome(row, result, Path(env["FOLLOWFLOW_DB_PATH"]), kept)


@dataclass
class Results:
    baseline: tuple[Any, ...]
    by_name: dict[str, Outcome]


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory, prefect_api: str, prefect_home: Path
) -> Iterator[Results]:
    tmp = tmp_path_factory.mktemp("bad-input")
    emulator = Emulator.create(seed=1, size="demo", limits=False)
    with EmulatorServer(emulator) as server:
        world = World(emulator, server, tmp, prefect_api, prefect_home)
        first = world.run(["snapshot", "ff_bob", "--lists", "followers"], world.env())
        assert first.returncode == 0, first.stderr
        baseline = world.db_path
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = list(
                pool.map(lambda pair: run_row(world, baseline, pair[1], pair[0]), enumerate(ROWS))
            )
        yield Results(fingerprint(baseline), {o.row.name: o for o in done})
        for outcome in done:
            if isinstance(outcome.kept, Path):  # the tmpfs of the disk-full row
                subprocess.run(["umount", str(outcome.kept)], check=False)
    print_table(done)


def print_table(done: list[Outcome]) -> None:
    print("\n| bad input | command | exit | the one line on stderr |")
    print("|---|---|---:|---|")
    for o in done:
        if o.result is None:
            print(f"| {o.row.name} | - | - | not simulated: {o.kept} |")
            continue
        last = o.result.stderr.strip().splitlines()[-1] if o.result.stderr.strip() else ""
        line = last.replace("|", "\\|")
        command = f"followflow {' '.join(o.row.args)}"
        print(f"| {o.row.name} | `{command}` | {o.result.returncode} | `{line}` |")


@pytest.mark.parametrize("name", [row.name for row in ROWS])
def test_bad_input_gets_one_clear_line_and_harms_nothing(outcomes: Results, name: str) -> None:
    outcome = outcomes.by_name[name]
    if outcome.result is None:
        pytest.skip(str(outcome.kept))
    line = assert_clean_failure(outcome.result)
    assert outcome.result.returncode == outcome.row.code, outcome.result.stderr
    assert re.search(outcome.row.pattern, line), line
    if isinstance(outcome.kept, bytes):  # the corrupt file is left exactly as it was
        assert outcome.db.read_bytes() == outcome.kept
        return
    if isinstance(outcome.kept, Path):  # free the disk again, then look
        (outcome.kept / "filler").unlink()
    snapshots, followers = fingerprint(outcome.db, {row[0] for row in outcomes.baseline[1]})
    assert set(outcomes.baseline[0]) <= set(snapshots), "the complete snapshot is still there"
    assert followers == outcomes.baseline[1], "and the followers it recorded"


def test_flow_parameters_from_the_ui_are_validated_before_anything_runs() -> None:
    """A deployment run from the UI passes a dict; Prefect validates it against the model."""
    from prefect.exceptions import ParameterTypeError

    from flows.follow_back import follow_back
    from flows.snapshot_followers import snapshot_followers

    with pytest.raises(ParameterTypeError, match="not a username or user id"):
        snapshot_followers.validate_parameters({"params": {"accounts": ["bad name!"]}})
    with pytest.raises(ParameterTypeError, match="less than or equal to 400"):
        follow_back.validate_parameters({"params": {"account": "ff_demo", "max_follows": 9999}})
    with pytest.raises(ParameterTypeError, match="Extra inputs are not permitted"):
        snapshot_followers.validate_parameters({"params": {"accounts": ["a"], "list": "both"}})
