"""Shared parts of the benchmarks: the emulator and Prefect server as child processes,
followflow's flow run in a child process, tweepy and twarc pointed at the emulator, and
the rate-limit windows rebuilt from the emulator's request log.

Everything here talks to 127.0.0.1 only, and every process it starts is stopped on exit,
error or Ctrl-C included (context managers). Child processes are used so that the client
under test, the emulator and the Prefect server each get their own GIL, and so that a
child's peak RSS is its own (`ru_maxrss`).

    python bench/_harness.py flow SPEC_JSON    # internal: one flow run, prints a result line
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from followflow.cli import main; sys.argv[0] = 'followflow'; main()"
PUBLIC = ("https://api.twitter.com", "https://api.x.com")
RESULT_MARK = "BENCH-RESULT "
# followflow's DEFAULT_USER_FIELDS, asked of the peers too, so every client reads the same bytes.
USER_FIELDS = [
    "created_at",
    "description",
    "location",
    "url",
    "protected",
    "verified",
    "verified_type",
    "profile_image_url",
    "public_metrics",
]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_note() -> str:
    """Cores and load average, printed with every table (other work skews the figures)."""
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def _clean_env() -> dict[str, str]:
    """This process's environment without any FOLLOWFLOW_* or PREFECT_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FOLLOWFLOW_", "PREFECT_"))}


def _stop(proc: subprocess.Popen[Any], *, group: bool = False) -> None:
    if proc.poll() is not None:
        return
    try:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        if proc.poll() is None:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()


# --- the emulator ---------------------------------------------------------------------------


@dataclass
class Emu:
    """A running `followflow emulator` child and what its manifest says."""

    proc: subprocess.Popen[bytes]
    manifest: dict[str, Any]
    window_s: float
    limit: int

    @property
    def base_url(self) -> str:
        return str(self.manifest["base_url"])

    @property
    def bearer(self) -> str:
        return str(self.manifest["app"]["bearer_token"])

    def user(self, username: str) -> dict[str, Any]:
        return next(u for u in self.manifest["users"] if u["username"] == username)

    def requests_since(self, seq: int) -> list[dict[str, Any]]:
        """The emulator's request log from record `seq` on (see followflow/emulator/traffic.py)."""
        response = httpx.get(f"{self.base_url}/_emulator/requests", params={"since": seq})
        response.raise_for_status()
        return list(response.json()["requests"])

    def total_requests(self) -> int:
        response = httpx.get(f"{self.base_url}/_emulator/requests", params={"since": 1 << 62})
        response.raise_for_status()
        return int(response.json()["total"])

    def followers_count(self, username: str) -> int:
        user_id = self.user(username)["id"]
        response = httpx.get(f"{self.base_url}/_emulator/truth/followers/{user_id}", timeout=60)
        response.raise_for_status()
        return int(response.json()["count"])


@contextmanager
def emulator(
    workdir: Path,
    *,
    size: str = "large",
    limits: bool = True,
    window_s: float = 900.0,
    preset: str = "v2-2023",
    host: str = "127.0.0.1",
    accounts: int = 0,
) -> Iterator[Emu]:
    """`followflow emulator --size SIZE ...` in a child process, stopped at exit.

    `host`: the address it serves on (a link address other hosts reach); `accounts`: the
    fleet of owned accounts with tokens it adds (`--accounts`).
    """
    manifest = workdir / f"manifest-{time.monotonic_ns()}.json"
    args = ["emulator", "--port", "0", "--size", size, "--manifest", str(manifest)]
    args += ["--preset", preset, "--window-seconds", str(window_s)]
    args += ["--host", host, "--accounts", str(accounts)]
    if not limits:
        args.append("--no-limits")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        stdout=subprocess.DEVNULL,
        env=_clean_env(),
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 60
        while not manifest.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the emulator did not start")
            time.sleep(0.05)
        limit = 15 if preset == "v2-2023" else 300
        yield Emu(proc, json.loads(manifest.read_text()), window_s, limit)
    finally:
        _stop(proc)


# --- Prefect ------------------------------------------------------------------------------


@contextmanager
def prefect_server(workdir: Path) -> Iterator[dict[str, str]]:
    """A real `prefect server start` on loopback with a fresh database; yields its env."""
    from followflow.prefect_server import local_prefect_server, quiet_prefect_environment

    home = workdir / "prefect"
    started = time.perf_counter()
    with local_prefect_server(home) as api_url:
        print(f"prefect server at {api_url} (started in {time.perf_counter() - started:.1f} s)")
        yield {**quiet_prefect_environment(home), "PREFECT_API_URL": api_url}


# --- PostgreSQL -----------------------------------------------------------------------------


@contextmanager
def postgres_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster on loopback (tests/postgres.py), stopped at exit.

    Yields the `PostgresCluster`: `create_database(name)` answers a fresh store's URL."""
    sys.path.insert(0, str(ROOT))  # the tests' cluster helper
    from tests.postgres import PostgresCluster, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries are missing: apt-get install postgresql")
    cluster = PostgresCluster(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def postgres_cpu_s(cluster: Any) -> float:
    """CPU seconds (user + system) the cluster's processes have used so far.

    A backend ends with its connection; the postmaster reaps it, so its CPU is in the
    postmaster's children's time (cutime, cstime) from then on."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    ticks = _cpu_ticks(postmaster, reaped=True) + sum(_cpu_ticks(int(p)) for p in children)
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int, *, reaped: bool = False) -> int:
    """utime + stime of a live process (0 once gone); `reaped`: with its reaped children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(fields[i]) for i in ((11, 12, 13, 14) if reaped else (11, 12)))


def _server_processes(api_url: str) -> list[int]:
    """Pids of the `prefect server start` serving `api_url` and of its process group."""
    port = api_url.rsplit(":", 1)[1].split("/", 1)[0]
    leader = None
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        # The watcher (followflow.server_watch) carries the server's command line too, but
        # leads a group of its own: the server's CPU is in the server's group.
        watcher = b"followflow.server_watch" in argv
        if b"server" in argv and b"start" in argv and port.encode() in argv and not watcher:
            leader = int(cmdline.parent.name)
            break
    if leader is None:
        raise SystemExit(f"no `prefect server start` process found for {api_url}")
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # the process group: the server started its own session
            members.append(int(stat.parent.name))
    return members


def server_cpu_s(prefect: dict[str, str]) -> float:
    """CPU seconds (user + system) the Prefect server's processes have used so far."""
    ticks = sum(_cpu_ticks(pid) for pid in _server_processes(prefect["PREFECT_API_URL"]))
    return ticks / os.sysconf("SC_CLK_TCK")


def server_task_runs(prefect: dict[str, str]) -> int:
    """How many task runs the Prefect server has recorded (its API's count)."""
    response = httpx.post(f"{prefect['PREFECT_API_URL']}/task_runs/count", json={}, timeout=30)
    response.raise_for_status()
    return int(response.json())


def followflow_env(emu: Emu, prefect: dict[str, str], db: Path, **extra: str) -> dict[str, str]:
    """The environment of a flow child: Prefect, and FOLLOWFLOW_* pointing at the emulator."""
    env = {**_clean_env(), **prefect}
    settings = {
        "X_BASE_URL": emu.base_url,
        "BEARER_TOKEN": emu.bearer,
        "DB_PATH": str(db),
        "TOKEN_STORE_PATH": str(db.with_suffix(".tokens.json")),
        "RATE_LIMIT_MARGIN_S": "0.01",
        "BACKOFF_BASE_S": "0.05",
        **extra,
    }
    env.update({f"FOLLOWFLOW_{k}": v for k, v in settings.items()})
    return env


@dataclass
class ChildResult:
    """What a child process printed on its result line (and how it exited)."""

    data: dict[str, Any]
    returncode: int
    log: str = field(repr=False, default="")

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def start_child(
    mode: str, spec: dict[str, Any], env: dict[str, str], workdir: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `python bench/_harness.py MODE SPEC` with its output in a log file."""
    log = workdir / f"child-{mode}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,  # away from any .env in the project root
            start_new_session=True,
        )
    return proc, log


def finish_child(proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> ChildResult:
    """Wait (bounded) for a child and parse its result line; its log tail on failure."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(proc, group=True)
        raise SystemExit(f"a benchmark child ran over {timeout_s:.0f} s; log: {log}") from None
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        tail = "\n".join(text.splitlines()[-30:])
        raise SystemExit(f"a benchmark child failed (exit {proc.returncode}):\n{tail}")
    return ChildResult(json.loads(lines[-1][len(RESULT_MARK) :]), proc.returncode, text)


@contextmanager
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put started children in; any still running at exit are killed."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            _stop(proc, group=True)


def run_child(
    mode: str, spec: dict[str, Any], env: dict[str, str], workdir: Path, timeout_s: float = 900
) -> ChildResult:
    with children() as procs:
        proc, log = start_child(mode, spec, env, workdir)
        procs.append(proc)
        return finish_child(proc, log, timeout_s)


def run_children(
    mode: str, specs: list[dict[str, Any]], envs: list[dict[str, str]], workdir: Path,
    timeout_s: float = 900,
) -> list[ChildResult]:  # fmt: skip
    """Start several children at once (e.g. two processes sharing one token); wait for all."""
    with children() as procs:
        started = [start_child(mode, s, e, workdir) for s, e in zip(specs, envs, strict=True)]
        procs.extend(p for p, _ in started)
        return [finish_child(p, log, timeout_s) for p, log in started]


def _emit(result: dict[str, Any]) -> None:
    import resource

    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT_MARK + json.dumps(result), flush=True)


# --- child: one followflow flow run ---------------------------------------------------------


def _flow_child(spec: dict[str, Any]) -> None:
    started = time.perf_counter()
    tag = spec.get("tag")
    if tag:
        # Tell two processes apart in the emulator's request log by their User-Agent.
        import followflow.xapi.client as xclient

        xclient.__version__ = f"{xclient.__version__} {tag}"
    from flows.params import SnapshotParams
    from flows.snapshot_followers import snapshot_followers

    imported = time.perf_counter() - started
    wall_start = time.time()
    started = time.perf_counter()
    error = None
    statuses: list[str] = []
    users = 0
    try:
        outcomes = snapshot_followers(SnapshotParams(**spec["params"]))
        statuses = [o.status for o in outcomes]
        users = sum(o.users_read for o in outcomes)
    except Exception as exc:  # reported to the parent, which prints it
        error = f"{type(exc).__name__}: {exc}"[:500]
    elapsed = time.perf_counter() - started
    _emit(
        {
            "import_s": imported,
            "elapsed_s": elapsed,
            "wall_start": wall_start,
            "users": users,
            "statuses": statuses,
            "error": error,
        }
    )


# --- peers: tweepy and twarc pointed at the emulator (REFERENCE §5.4) -----------------------


def _rewrite(url: str, base: str) -> str:
    for public in PUBLIC:
        if url.startswith(public):
            return base + url[len(public) :]
    return url


def tweepy_client(base_url: str, bearer: str, tag: str = "", **kwargs: Any) -> Any:
    """tweepy.Client with its hard-coded https://api.twitter.com rewritten to the emulator."""
    import requests
    import tweepy

    class Rerouted(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kw: Any) -> Any:  # type: ignore[override]
            url = url.decode() if isinstance(url, bytes) else url
            return super().request(method, _rewrite(url, base_url), *args, **kw)

    client = tweepy.Client(bearer_token=bearer, **kwargs)
    client.session = Rerouted()
    if tag:
        client.user_agent = f"{client.user_agent} {tag}"
    return client


def twarc_client(base_url: str, bearer: str, tag: str = "") -> Any:
    """Twarc2 whose sessions send https://api.twitter.com requests to the emulator."""
    import requests
    from requests.adapters import HTTPAdapter
    from twarc import Twarc2

    class Rewriting(HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kw: Any) -> Any:  # type: ignore[override]
            request.url = _rewrite(str(request.url), base_url)
            return super().send(request, *args, **kw)

    class LocalTwarc2(Twarc2):  # type: ignore[misc]
        def connect(self) -> None:
            # connect() builds a new session after connection errors: mount every time.
            super().connect()
            for public in PUBLIC:
                self.client.mount(public, Rewriting())
            if tag:
                self.client.headers["User-Agent"] += f" {tag}"

    return LocalTwarc2(bearer_token=bearer)


def _tweepy_child(spec: dict[str, Any]) -> None:
    """Read each account's followers with tweepy's Paginator; store nothing."""
    import tweepy

    client = tweepy_client(
        spec["base_url"], spec["bearer"], spec.get("tag", ""), wait_on_rate_limit=True
    )
    started = time.perf_counter()
    users = pages = 0
    for account in spec["accounts"]:
        token = account.get("bearer")
        if token:  # the account's own OAuth 2.0 user token (its own bucket)
            client.bearer_token = token
        for response in tweepy.Paginator(
            client.get_users_followers,
            account["id"],
            max_results=1000,
            user_fields=USER_FIELDS,
            limit=100_000,
        ):
            pages += 1
            users += len(response.data or ())
    _emit({"elapsed_s": time.perf_counter() - started, "users": users, "pages": pages})


def _twarc_child(spec: dict[str, Any]) -> None:
    """Read each account's followers with Twarc2.followers (pages of 1,000); store nothing."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    client = twarc_client(spec["base_url"], spec["bearer"], spec.get("tag", ""))
    started = time.perf_counter()
    users = pages = 0
    for account in spec["accounts"]:
        for page in client.followers(account["id"], user_id=account["id"], max_results=1000):
            pages += 1
            users += len(page.get("data") or ())
            if pages > 100_000:
                raise SystemExit("runaway pagination")
    _emit({"elapsed_s": time.perf_counter() - started, "users": users, "pages": pages})


# --- rate-limit windows rebuilt from the emulator's request log -----------------------------


@dataclass
class Window:
    start: float
    served: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # 429s by client


@dataclass
class WindowReport:
    windows: list[Window]
    served: int
    refused: dict[str, int]
    span_s: float  # first to last request of the group
    limit: int
    window_s: float

    @property
    def windows_needed(self) -> int:
        return max(1, math.ceil(self.served / self.limit))

    @property
    def ideal_s(self) -> float:
        """(windows needed - 1) x window: a client that sends at every reset, instantly."""
        return (self.windows_needed - 1) * self.window_s

    @property
    def least_used(self) -> float:
        """Share of the limit used in the least-used window, the last one excepted."""
        shares = [w.served / self.limit for w in self.windows[:-1]]
        return min(shares) if shares else 1.0

    def max_429_per_window(self, client: str | None = None) -> int:
        """Most 429s one client (or, with None, every client together) got in one window."""
        counts = [
            sum(w.refused.values()) if client is None else w.refused.get(client, 0)
            for w in self.windows
        ]
        return max(counts, default=0)


def windows_of(
    records: list[dict[str, Any]], group: str, window_s: float, limit: int
) -> WindowReport:
    """Replay the emulator's windows over one bucket's requests (limits.py: a window opens
    on the whole second of the first request after the previous one closed): requests
    served per window, and 429s per window and client."""
    rows = sorted((r for r in records if r["group"] == group), key=lambda r: r["seq"])
    windows: list[Window] = []
    refused: dict[str, int] = {}
    for row in rows:
        if not windows or row["at"] >= windows[-1].start + window_s:
            windows.append(Window(float(math.floor(row["at"]))))
        if row["status"] == 200:
            windows[-1].served += 1
        elif row["status"] == 429:
            client = row["client"]
            windows[-1].refused[client] = windows[-1].refused.get(client, 0) + 1
            refused[client] = refused.get(client, 0) + 1
    served = sum(w.served for w in windows)
    span = rows[-1]["at"] - rows[0]["at"] if rows else 0.0
    return WindowReport(windows, served, refused, span, limit, window_s)


def tmpdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ff-bench-")


CHILDREN = {"flow": _flow_child, "tweepy": _tweepy_child, "twarc": _twarc_child}

if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    sys.path.insert(0, str(ROOT))
    CHILDREN[mode](json.loads(raw))
