"""Pages per second the emulator serves over loopback, and its memory with 1M followers.

    uv run python bench/emulator_pages.py [--pages 300] [--runs 3] [--fields default|none]

Starts `followflow emulator --size large --no-limits` in a child process (so the client
and the server each get a core), reads the manifest, then pages through ff_million's
followers with 1,000-user pages over one keep-alive connection, the way a snapshot does.
Prints pages/s per run and the median, the emulator's CPU time per page (which load from
other processes on the machine does not change), and its resident memory (current and
peak, from /proc) after the runs. Target: >= 200 pages/s, < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

DEFAULT_FIELDS = (
    "created_at,description,location,url,protected,verified,verified_type,"
    "profile_image_url,public_metrics"
)


def start_emulator(manifest: Path) -> subprocess.Popen[bytes]:
    args = [
        "emulator",
        "--port",
        "0",
        "--size",
        "large",
        "--no-limits",
        "--manifest",
        str(manifest),
    ]
    code = "import sys; from followflow.cli import main; sys.argv[0] = 'followflow'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not manifest.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the emulator did not start")
        time.sleep(0.05)
    return proc


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(client: httpx.Client, user_id: int, pages: int, fields: str | None) -> tuple[float, int]:
    params: dict[str, str | int] = {"max_results": 1000}
    if fields:
        params["user.fields"] = fields
    token = None
    start = time.perf_counter()
    users = 0
    for _ in range(pages):
        if token:
            params["pagination_token"] = token
        response = client.get(f"/2/users/{user_id}/followers", params=params)
        response.raise_for_status()
        # The emulator's pace is what is measured: read only `meta`, which ends the body
        # (a full parse of 430 KB would double the client's share of each round trip).
        content = response.content
        meta = orjson.loads(content[content.rindex(b'"meta":') + 7 : -1])
        users += meta["result_count"]
        token = meta.get("next_token")
        if token is None:
            break
    return time.perf_counter() - start, users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fields", choices=("default", "none"), default="default")
    args = parser.parse_args()
    fields = DEFAULT_FIELDS if args.fields == "default" else None
    with tempfile.TemporaryDirectory() as tmp:
        manifest_path = Path(tmp) / "manifest.json"
        proc = start_emulator(manifest_path)
        try:
            manifest = json.loads(manifest_path.read_text())
            million = next(u for u in manifest["users"] if u["username"] == "ff_million")
            headers = {"Authorization": f"Bearer {manifest['app']['bearer_token']}"}
            print(
                f"emulator pid {proc.pid} at {manifest['base_url']}; RSS at start "
                f"{memory_mb(proc.pid)[0]:.0f} MB"
            )
            rates = []
            with httpx.Client(base_url=manifest["base_url"], headers=headers, timeout=30) as client:
                for i in range(args.runs):
                    cpu = cpu_seconds(proc.pid)
                    elapsed, users = run(client, million["id"], args.pages, fields)
                    cpu = cpu_seconds(proc.pid) - cpu
                    pages = users / 1000
                    rates.append(pages / elapsed)
                    print(
                        f"run {i + 1}: {pages:.0f} pages ({users} users, fields={args.fields}) "
                        f"in {elapsed:.2f} s = {rates[-1]:.0f} pages/s; "
                        f"emulator CPU {cpu / pages * 1000:.1f} ms/page"
                    )
            rss, peak = memory_mb(proc.pid)
            print(
                f"median {statistics.median(rates):.0f} pages/s "
                f"({statistics.median(rates) * 1000:.0f} followers/s); "
                f"emulator RSS {rss:.0f} MB, peak {peak:.0f} MB (ff_million: 1,000,000 followers)"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
