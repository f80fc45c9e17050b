"""A fleet of owned accounts, each read with its own user token: three hosts on PostgreSQL
against one host on the DuckDB file, side by side in one run.

    uv run python bench/fleet.py                                   # 500 accounts, both setups
    uv run python bench/fleet.py --accounts 20 --window-seconds 5  # the smoke configuration
    uv run python bench/fleet.py --setups hosts --runs 6 --json out.json

Both setups read the same accounts (`followflow emulator --accounts N`, seed 1: follower
counts heavy tailed, the largest of 500 has 19,052) with their own OAuth 2.0 user tokens
(FOLLOWFLOW_READ_WITH_USER_TOKENS=true), both lists, windows shortened to
`--window-seconds` (15 reads a window per token, preset v2-2023). Runs come from a
`snapshot-followers` deployment (deployments/prefect.yaml's entrypoint and pull step) on
a process work pool: `--runs` runs (by default three, one per host), the accounts dealt
out round-robin, so every run has a share of large and small ones (a run takes at most
MAX_ACCOUNTS_PER_RUN accounts, 250).

- hosts: three network namespaces (tests/hosts/netns.py), a PostgreSQL cluster on the
  services address holding the followflow store and the Prefect server's database, the
  Prefect server and the emulator on that address, a process worker in each host with
  FOLLOWFLOW_DATABASE_URL and the tokens in a Prefect Secret block.
- one-host: the emulator and a SQLite Prefect server on 127.0.0.1, one process worker
  with FOLLOWFLOW_DB_PATH (a DuckDB file) and the tokens in a token file.

The fleet is read twice: a first run, which creates its 1,000 global limits on the server
and stores every list as a baseline, then, once the windows have reset, the daily run a
schedule repeats. Figures per setup: the wall time of each (the first run's creation to the
last one's end, server times), the daily run's against the ideal: the largest account's
own schedule, measured by reading it alone through the same setup once the fleet is done
(a run of its own: the worker's pick-up, the process start and its window waits), and
beside it the bare schedule of its largest listing, (windows it needs - 1) x window, which
no run that starts a process can meet; when the daily run's first and last X request
came (emulator's request log); over both runs, most 429s one token got in one window (the
log, replayed window by window), Prefect API 503s and 500s (the server's log,
PREFECT_API_LOG_RETRYABLE_ERRORS=true), failed runs, peak RSS of each worker's process tree
(worker + its flow-run processes, sampled every 0.25 s); CPU seconds of the daily run of
the Prefect server's, PostgreSQL's, the workers' (with their flow runs) and the emulator's
process trees (/proc). Every stored list is checked against the emulator's truth. Every
namespace, process and cluster made is removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _harness import (
    ROOT,
    Emu,
    _clean_env,
    _server_processes,
    _stop,
    emulator,
    machine_note,
    prefect_server,
    tmpdir,
    windows_of,
)

sys.path.insert(0, str(ROOT))

from prefect.client.orchestration import SyncPrefectClient  # noqa: E402

from flows.params import MAX_ACCOUNTS_PER_RUN  # noqa: E402
from tests.hosts.followflow_hosts import oauth2_document  # noqa: E402
from tests.hosts.netns import Host, make_hosts  # noqa: E402
from tests.hosts.workers import (  # noqa: E402
    PREFECT,
    create_process_pool,
    deploy_snapshot_followers,
    prefect_on_postgres,
    worker_environment,
)
from tests.postgres import PostgresCluster, postgres_bin_dir  # noqa: E402

POOL = "fleet"
LIMIT = 15  # reads per window per token, preset v2-2023
PAGE = 1000
KINDS = ("followers", "following")
TOKEN_BLOCK = "fleet-tokens"
RETRYABLE = "Encountered retryable exception in request"  # Prefect's log line of a 503
INTERNAL = "Encountered exception in request"  # ... and of a 500
_LISTING = re.compile(r"/2/users/(?P<id>[0-9]+)/(?P<kind>followers|following)")


# --- the accounts, their truth and the schedule --------------------------------------------


def fleet_users(emu: Emu) -> list[dict[str, Any]]:
    return [u for u in emu.manifest["users"] if u["username"].startswith("ff_fleet")]


def truth(emu: Emu, users: list[dict[str, Any]]) -> dict[tuple[int, str], set[int]]:
    """Every account's lists as the emulator holds them now."""
    lists: dict[tuple[int, str], set[int]] = {}
    with httpx.Client(base_url=emu.base_url, timeout=60) as http:
        for user in users:
            for kind in KINDS:
                response = http.get(f"/_emulator/truth/{kind}/{user['id']}")
                response.raise_for_status()
                lists[int(user["id"]), kind] = set(response.json()["ids"])
    return lists


def schedule_s(sizes: list[int], window_s: float) -> float:
    """The largest listing's own schedule: one window per LIMIT pages, reset to reset."""
    pages = max(max(1, math.ceil(size / PAGE)) for size in sizes)
    return (math.ceil(pages / LIMIT) - 1) * window_s


def batches(users: list[dict[str, Any]], runs: int) -> list[list[str]]:
    """The accounts dealt round-robin over `runs` runs (a heavy tail spread evenly)."""
    return [[u["username"] for u in users[i::runs]] for i in range(runs)]


# --- processes: trees, RSS, CPU --------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree(root: int) -> list[int]:
    """`root` and every live process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_s(roots: list[int]) -> float:
    """User + system seconds of the live trees under `roots`, reaped children included."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in {p for root in roots for p in tree(root)}:
        fields = _stat(pid)
        if fields is not None:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return total / ticks


class PeakRss:
    """Samples the RSS of each worker's process tree every 0.25 s; keeps the peaks."""

    def __init__(self, workers: dict[str, int]) -> None:
        self.workers = workers
        self.peaks = dict.fromkeys(workers, 0.0)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.25):
            for name, pid in self.workers.items():
                self.peaks[name] = max(self.peaks[name], rss_mb(tree(pid)))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


# --- Prefect: the pool, the deployment, the runs --------------------------------------------


def deploy(api_url: str) -> Any:
    """A process pool and the snapshot-followers deployment on it; the deployment's id."""
    with SyncPrefectClient(api_url) as client:
        create_process_pool(client, POOL)
        return deploy_snapshot_followers(client, POOL)


def wait_for_workers(api_url: str, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    with SyncPrefectClient(api_url) as client:
        while len(client.read_workers_for_work_pool(POOL)) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{count} workers did not come online in {timeout_s:.0f} s")
            time.sleep(0.5)


@dataclass
class Runs:
    wall_s: float
    states: list[str]
    run_counts: list[int]
    starts_s: list[float]  # each run's start (Running) and end, s after the first creation
    ends_s: list[float]


def trigger_and_wait(
    api_url: str, deployment: Any, groups: list[list[str]], timeout_s: float
) -> Runs:
    """One run per group of accounts, all at once; wait until every run has ended."""
    started = time.monotonic()
    with SyncPrefectClient(api_url) as client:
        ids = [
            client.create_flow_run_from_deployment(
                deployment, parameters={"params": {"accounts": group, "lists": "both"}}
            ).id
            for group in groups
        ]
        while True:
            runs = [client.read_flow_run(run_id) for run_id in ids]
            if all(run.state is not None and run.state.is_final() for run in runs):
                break
            if time.monotonic() - started > timeout_s:
                raise SystemExit(
                    f"runs not done in {timeout_s:.0f} s: {[r.state_name for r in runs]}"
                )
            time.sleep(0.2)
    # The polling interval bounds the error: the last run's end time is the server's own.
    ends = [run.end_time.timestamp() for run in runs if run.end_time is not None]
    created = min(run.created.timestamp() for run in runs if run.created is not None)
    return Runs(
        wall_s=max(ends) - created if ends else time.monotonic() - started,
        states=[str(run.state_name) for run in runs],
        run_counts=[run.run_count for run in runs],
        starts_s=sorted(r.start_time.timestamp() - created for r in runs if r.start_time),
        ends_s=sorted(end - created for end in ends),
    )


# --- a setup's figures -----------------------------------------------------------------------


@dataclass
class Figures:
    setup: str
    accounts: int
    runs: int
    window_s: float
    schedule_s: float  # the largest listing's windows: (windows - 1) x window
    alone_s: float  # the largest account alone, through the same setup, after the fleet
    first_wall_s: float  # the fleet's first run: its limits created, every list a baseline
    wall_s: float  # the daily run after it
    run_starts_s: list[float]  # the daily runs', after they were triggered
    run_ends_s: list[float]
    first_request_s: float  # after the daily runs were triggered
    last_request_s: float
    requests: int
    tokens: int
    max_429_per_token_window: int
    tokens_over_one_429: int
    total_429: int
    api_503: int
    api_500: int
    failed_runs: int
    run_retries: int
    peak_rss_mb: dict[str, float]
    prefect_cpu_s: float
    workers_cpu_s: float  # the workers and their flow-run processes
    emulator_cpu_s: float
    postgres_cpu_s: float | None
    lists_checked: int
    lists_wrong: list[str] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict, repr=False)  # "username list": size


def window_figures(records: list[dict[str, Any]], window_s: float) -> tuple[int, int, int, int]:
    """(tokens, most 429s one token got in one window, tokens with more than one, 429s).

    A listing's reads use its account's own token, so a token's bucket is the
    (list, account) of the request path."""
    by_token: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in records:
        m = _LISTING.fullmatch(row.get("path", ""))
        if m is not None:
            by_token.setdefault((m["kind"], m["id"]), []).append(row)
    worst = over = total = 0
    for rows in by_token.values():
        report = windows_of(rows, rows[0]["group"], window_s, LIMIT)
        most = report.max_429_per_window()
        worst, over = max(worst, most), over + (most > 1)
        total += sum(report.refused.values())
    return len(by_token), worst, over, total


def server_errors(log: Path) -> tuple[int, int]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count(RETRYABLE), text.count(INTERNAL)


def stored_lists(read: Callable[[str], list[tuple[int, int]]]) -> dict[tuple[int, str], set[int]]:
    lists: dict[tuple[int, str], set[int]] = {}
    for kind, sql in (
        ("followers", "SELECT account_id, follower_id FROM current_followers"),
        ("following", "SELECT account_id, followed_id FROM current_following"),
    ):
        for account, user in read(sql):
            lists.setdefault((int(account), kind), set()).add(int(user))
    return lists


def compare(
    stored: dict[tuple[int, str], set[int]], expected: dict[tuple[int, str], set[int]]
) -> list[str]:
    wrong = []
    for key, ids in expected.items():
        got = stored.get(key, set())
        if got != ids:
            wrong.append(f"{key[0]} {key[1]}: stored {len(got)}, truth {len(ids)}")
    return wrong


@dataclass
class Setup:
    """What one setup measures with: where the services are and how to read its store."""

    name: str
    emu: Emu
    api_url: str
    server_log: Path
    workers: dict[str, int]
    read_store: Callable[[str], list[tuple[int, int]]]
    deployment: Any  # its id
    postgres_pid: int | None = None


def measure(
    setup: Setup, groups: list[list[str]], window_s: float, timeout_s: float
) -> tuple[Figures, list[dict[str, Any]]]:
    """The setup's figures, and the emulator's request log of the runs they come from."""
    users = fleet_users(setup.emu)
    expected = truth(setup.emu, users)
    schedule = schedule_s([len(ids) for ids in expected.values()], window_s)
    deployment = setup.deployment
    wait_for_workers(setup.api_url, len(setup.workers))
    seq = setup.emu.total_requests()
    prefect_pids = _server_processes(setup.api_url)
    pg = [setup.postgres_pid] if setup.postgres_pid else []
    workers = list(setup.workers.values())
    errors_before = server_errors(setup.server_log)
    with PeakRss(setup.workers) as peaks:
        # The first run creates the fleet's global limits and stores every list as a
        # baseline; the daily run after it (windows reset) is what a schedule repeats.
        first = trigger_and_wait(setup.api_url, deployment, groups, timeout_s)
        time.sleep(window_s)
        cpu_before = cpu_s(prefect_pids), cpu_s(pg), cpu_s(workers), cpu_s([setup.emu.proc.pid])
        daily = time.time()
        runs = trigger_and_wait(setup.api_url, deployment, groups, timeout_s)
    prefect_cpu, pg_cpu = cpu_s(prefect_pids) - cpu_before[0], cpu_s(pg) - cpu_before[1]
    # A worker's finished flow-run processes count in its own reaped-children time.
    workers_cpu = cpu_s(workers) - cpu_before[2]
    emulator_cpu = cpu_s([setup.emu.proc.pid]) - cpu_before[3]
    errors = server_errors(setup.server_log)
    records = [r for r in setup.emu.requests_since(seq) if r.get("group")]
    tokens, worst, over, total = window_figures(records, window_s)
    stored = stored_lists(setup.read_store)
    wrong = compare(stored, expected)
    largest = max(users, key=lambda u: max(len(expected[int(u["id"]), k]) for k in KINDS))
    # Its windows reset since the fleet read it: the same reads, the same waits.
    time.sleep(window_s)
    alone = trigger_and_wait(setup.api_url, deployment, [[largest["username"]]], timeout_s)
    ats = [r["at"] - daily for r in records if r["at"] >= daily]
    names = {int(u["id"]): u["username"] for u in users}
    figures = Figures(
        setup=setup.name,
        accounts=len(users),
        runs=len(groups),
        window_s=window_s,
        schedule_s=schedule,
        alone_s=alone.wall_s,
        first_wall_s=first.wall_s,
        wall_s=runs.wall_s,
        run_starts_s=runs.starts_s,
        run_ends_s=runs.ends_s,
        first_request_s=min(ats, default=float("nan")),
        last_request_s=max(ats, default=float("nan")),
        requests=len(records),
        tokens=tokens,
        max_429_per_token_window=worst,
        tokens_over_one_429=over,
        total_429=total,
        api_503=errors[0] - errors_before[0],
        api_500=errors[1] - errors_before[1],
        failed_runs=sum(state != "Completed" for state in first.states + runs.states),
        run_retries=sum(max(0, count - 1) for count in first.run_counts + runs.run_counts),
        peak_rss_mb=peaks.peaks,
        prefect_cpu_s=prefect_cpu,
        workers_cpu_s=workers_cpu,
        emulator_cpu_s=emulator_cpu,
        postgres_cpu_s=pg_cpu if pg else None,
        lists_checked=len(expected),
        lists_wrong=wrong,
        stored={f"{names[a]} {kind}": len(ids) for (a, kind), ids in stored.items() if a in names},
    )
    return figures, records


# --- the two setups --------------------------------------------------------------------------


def followflow_settings(emu: Emu, **extra: str) -> dict[str, str]:
    settings = {
        "X_BASE_URL": emu.base_url,
        "BEARER_TOKEN": emu.bearer,
        "CLIENT_ID": str(emu.manifest["app"]["client_id"]),
        "READ_WITH_USER_TOKENS": "true",
        "RATE_LIMIT_MARGIN_S": "0.01",
        "BACKOFF_BASE_S": "0.05",
        **extra,
    }
    return {f"FOLLOWFLOW_{k}": v for k, v in settings.items()}


def token_document(emu: Emu) -> str:
    """Every fleet account's OAuth 2.0 tokens as followflow's token stores hold them."""
    return json.dumps(oauth2_document(fleet_users(emu)))


def worker_argv(name: str, limit: int) -> list[str]:
    return [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"] + [
        "--name", name, "--limit", str(limit)
    ]  # fmt: skip


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


@contextmanager
def hosts_setup(work: Path, args: argparse.Namespace) -> Iterator[Setup]:
    """Three hosts, PostgreSQL for the store and the Prefect server, a worker in each."""
    import psycopg

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries are missing: apt-get install postgresql")
    with ExitStack() as stack:
        hosts = stack.enter_context(make_hosts(3, work))
        services = hosts.services_address
        cluster = PostgresCluster(bin_dir, listen=("127.0.0.1", services)).start()
        stack.callback(cluster.stop)
        prefect_db = cluster.create_database("prefect")
        cluster.create_database("followflow")
        store_url = cluster.url("followflow", host=services)
        emu = stack.enter_context(
            emulator(work, size="demo", window_s=args.window_seconds, host=services,
                     accounts=args.accounts)
        )  # fmt: skip
        server = stack.enter_context(prefect_on_postgres(prefect_db, services, work / "prefect-pg"))
        _save_block(server.api_url, token_document(emu))
        deployment = deploy(server.api_url)  # the pool first: a worker would make its own
        settings = followflow_settings(emu, DATABASE_URL=store_url, TOKEN_STORE_BLOCK=TOKEN_BLOCK)
        workers = {}
        per_host = math.ceil(args.runs / len(hosts))
        for host in hosts:
            env = {**worker_environment(host, server.api_url), **settings}
            child = host.popen(
                worker_argv(f"host{host.index}", per_host), env, host.folder / "worker.log"
            )
            workers[f"host{host.index}"] = child.pid
        stack.callback(_kill_hosts, list(hosts))

        def read(sql: str) -> list[tuple[int, int]]:
            with psycopg.connect(cluster.url("followflow")) as connection:
                return [(int(a), int(b)) for a, b in connection.execute(sql).fetchall()]

        yield Setup(
            "hosts", emu, server.api_url, work / "prefect-pg" / "server.log", workers, read,
            deployment, postmaster_pid(cluster),
        )  # fmt: skip


def _kill_hosts(hosts: list[Host]) -> None:
    for host in hosts:
        host.kill_everything()


def _save_block(api_url: str, document: str) -> None:
    """The token document in a Secret block on the server at `api_url`."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        Secret(value=document).save(TOKEN_BLOCK, overwrite=True)


@contextmanager
def one_host_setup(work: Path, args: argparse.Namespace) -> Iterator[Setup]:
    """The emulator, a SQLite Prefect server and one worker on 127.0.0.1; a DuckDB file."""
    import duckdb

    folder = work / "one-host"
    folder.mkdir()
    db = folder / "fleet.duckdb"
    tokens = folder / "tokens.json"
    with ExitStack() as stack:
        emu = stack.enter_context(
            emulator(folder, size="demo", window_s=args.window_seconds, accounts=args.accounts)
        )
        prefect = stack.enter_context(prefect_server(folder))
        tokens.write_text(token_document(emu))
        tokens.chmod(0o600)
        deployment = deploy(prefect["PREFECT_API_URL"])
        env = {**_clean_env(), **prefect, "PREFECT_WORKER_QUERY_SECONDS": "1"}
        env.update(followflow_settings(emu, DB_PATH=str(db), TOKEN_STORE_PATH=str(tokens)))
        with (folder / "worker.log").open("ab") as log:
            worker = subprocess.Popen(
                worker_argv("one-host", args.runs), env=env, cwd=folder, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        stack.callback(_stop, worker, group=True)

        def read(sql: str) -> list[tuple[int, int]]:
            with duckdb.connect(str(db), read_only=True) as connection:
                return [(int(a), int(b)) for a, b in connection.execute(sql).fetchall()]

        yield Setup(
            "one-host", emu, prefect["PREFECT_API_URL"], folder / "prefect" / "server.log",
            {"one-host": worker.pid}, read, deployment,
        )  # fmt: skip


SETUPS = {"hosts": hosts_setup, "one-host": one_host_setup}


# --- the table -------------------------------------------------------------------------------


def print_table(figures: list[Figures]) -> None:
    print(f"\n== fleet: {figures[0].accounts} accounts, own user tokens, both lists, windows "
          f"of {figures[0].window_s:g} s; {machine_note()}")  # fmt: skip
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        ("runs", lambda f: str(f.runs)),
        ("schedule s (largest listing)", lambda f: f"{f.schedule_s:.1f}"),
        ("largest account alone s", lambda f: f"{f.alone_s:.1f}"),
        ("first run: wall s", lambda f: f"{f.first_wall_s:.1f}"),
        ("daily run: wall s", lambda f: f"{f.wall_s:.1f}"),
        ("wall / largest alone", lambda f: f"{f.wall_s / f.alone_s:.2f}"),
        ("wall / schedule", lambda f: f"{f.wall_s / f.schedule_s:.2f}" if f.schedule_s else "-"),
        ("daily run: runs started s", lambda f: " ".join(f"{s:.1f}" for s in f.run_starts_s)),
        ("daily run: first X request s", lambda f: f"{f.first_request_s:.1f}"),
        ("daily run: last X request s", lambda f: f"{f.last_request_s:.1f}"),
        ("daily run: runs ended s", lambda f: " ".join(f"{e:.1f}" for e in f.run_ends_s)),
        ("X requests", lambda f: str(f.requests)),
        ("most 429s / token / window", lambda f: str(f.max_429_per_token_window)),
        ("tokens with > 1 in a window", lambda f: f"{f.tokens_over_one_429} of {f.tokens}"),
        ("429s in all", lambda f: str(f.total_429)),
        ("Prefect API 503s / 500s", lambda f: f"{f.api_503} / {f.api_500}"),
        ("failed runs / run retries", lambda f: f"{f.failed_runs} / {f.run_retries}"),
        ("peak RSS per worker MB", lambda f: " ".join(f"{v:.0f}" for v in f.peak_rss_mb.values())),
        ("daily run: Prefect server CPU s", lambda f: f"{f.prefect_cpu_s:.1f}"),
        ("daily run: workers' CPU s", lambda f: f"{f.workers_cpu_s:.1f}"),
        ("daily run: emulator CPU s", lambda f: f"{f.emulator_cpu_s:.1f}"),
        ("daily run: PostgreSQL CPU s", lambda f: "-" if f.postgres_cpu_s is None else f"{f.postgres_cpu_s:.1f}"),  # noqa: E501
        ("lists equal to the truth", lambda f: f"{f.lists_checked - len(f.lists_wrong)} of {f.lists_checked}"),  # noqa: E501
    ]  # fmt: skip
    print(f"{'':<30}" + "".join(f"{f.setup:>16}" for f in figures))
    for label, cell in rows:
        print(f"{label:<30}" + "".join(f"{cell(f):>16}" for f in figures))
    for f in figures:
        verdict = [
            ("wall within 10% of the largest account alone", f.wall_s <= 1.1 * f.alone_s),
            ("no failed run", f.failed_runs == 0),
            ("at most one 429 per token per window", f.max_429_per_token_window <= 1),
            ("no 503 from the Prefect server", f.api_503 == 0),
            ("every list equals the truth", not f.lists_wrong),
        ]
        missed = [name for name, ok in verdict if not ok]
        print(
            f"{f.setup}: " + ("every target met" if not missed else "missed: " + "; ".join(missed))
        )
        for line in f.lists_wrong[:5]:
            print(f"  wrong: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs the accounts are dealt over (default: one per host; each run is a process "
        "that costs ~4-5 CPU s to start)",
    )
    parser.add_argument("--setups", default="hosts,one-host")
    parser.add_argument("--window-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="most seconds per setup")
    parser.add_argument(
        "--server-db-pool",
        type=int,
        default=0,
        help="the Prefect servers' database connections (pool size = overflow); 0: Prefect's "
        "default (5 + 10)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--keep", type=Path, help="work in this (new) folder and keep it: logs, store file"
    )
    args = parser.parse_args()
    setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    unknown = [name for name in setups if name not in SETUPS]
    if unknown or not setups:
        raise SystemExit(f"unknown setup {unknown}: use {', '.join(SETUPS)}")
    fewest = math.ceil(args.accounts / MAX_ACCOUNTS_PER_RUN)
    if args.runs < fewest:
        raise SystemExit(f"--runs must be at least {fewest}: "
                         f"a run takes at most {MAX_ACCOUNTS_PER_RUN} accounts")  # fmt: skip
    # Every 503 the Prefect servers answer is logged, so it can be counted.
    os.environ["PREFECT_API_LOG_RETRYABLE_ERRORS"] = "true"
    if args.server_db_pool:
        for name in ("POOL_SIZE", "MAX_OVERFLOW"):
            os.environ[f"PREFECT_SERVER_DATABASE_SQLALCHEMY_{name}"] = str(args.server_db_pool)
    # Ctrl-C or a kill: unwind the context managers (namespaces, clusters, servers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures: list[Figures] = []
    logs: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True)
            tmp = str(args.keep.resolve())
        else:
            tmp = stack.enter_context(tmpdir())
        for name in setups:
            work = Path(tmp) / name
            work.mkdir()
            started = time.monotonic()
            with SETUPS[name](work, args) as setup:
                print(f"{name}: ready in {time.monotonic() - started:.1f} s; {machine_note()}",
                      flush=True)  # fmt: skip
                emu_users = fleet_users(setup.emu)
                groups = batches(emu_users, args.runs)
                measured, logs[name] = measure(setup, groups, args.window_seconds, args.timeout)
                figures.append(measured)
                print(f"{name}: done, wall {measured.wall_s:.1f} s", flush=True)
    print_table(figures)
    if args.json:
        document = {"figures": [asdict(f) for f in figures], "request_logs": logs}
        args.json.write_text(json.dumps(document))


if __name__ == "__main__":
    main()
