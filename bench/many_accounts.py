"""Ten owned accounts, each read with its own user token: followflow at once, tweepy in turn.

    uv run python bench/many_accounts.py                 # 3 runs, ~2 min
    uv run python bench/many_accounts.py --quick         # 1 run
    uv run python bench/many_accounts.py --window-seconds 10 --runs 5

One `followflow emulator --window-seconds 5` child (preset v2-2023: 15 follower reads per
window per user token). The accounts ff_team0..ff_team9 have 500 to 20,000 followers
(1 to 20 pages of 1,000; 82 pages in all); ff_team9, the largest, needs two windows.
Every account is read with its own OAuth 2.0 user token from the emulator's manifest, so
each has its own bucket:
- followflow: one `snapshot-followers` run over all ten (FOLLOWFLOW_READ_WITH_USER_TOKENS=true,
  the tokens in a FileTokenStore, FOLLOWFLOW_CLIENT_ID), accounts read concurrently, given
  in the order ff_team0..9 and again largest first, and one run over ff_team9 alone: the
  goal is all ten in the time of the largest + 5%.
- tweepy 4.17: a sequential loop over the same ten (`Client(bearer_token=<user token>,
  wait_on_rate_limit=True)` + `Paginator`), and ff_team9 alone.
Times are each child's own wall time of the read (flow call / loop), medians of the runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _harness import (
    Emu,
    emulator,
    followflow_env,
    machine_note,
    median,
    prefect_server,
    run_child,
    tmpdir,
)

TEAM = [f"ff_team{i}" for i in range(10)]
LARGEST = "ff_team9"


def _token_store(emu: Emu, path: Path) -> None:
    """Each team account's OAuth 2.0 tokens from the manifest, in followflow's token store."""
    from followflow.xapi.tokens import FileTokenStore, OAuth2Tokens

    store = FileTokenStore(path)
    for name in TEAM:
        user = emu.user(name)
        store.save(
            OAuth2Tokens(
                access_token=user["oauth2_access_token"],
                refresh_token=user["oauth2_refresh_token"],
                expires_at=time.time() + 7_000,  # the emulator's tokens last 7,200 s
                scope="tweet.read users.read follows.read offline.access",
                user_id=user["id"],
                username=name,
            )
        )


def _after_windows(emu: Emu) -> None:
    """Let every bucket's window close, so no run starts in a window another one opened."""
    rows = emu.requests_since(max(0, emu.total_requests() - 200))
    if rows:
        time.sleep(max(0.0, int(rows[-1]["at"]) + emu.window_s + 0.05 - time.time()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    keys = ("ff_all", "ff_big_first", "ff_one", "tw_all", "tw_one")
    times: dict[str, list[float]] = {k: [] for k in keys}
    with tmpdir() as tmp:
        work = Path(tmp)
        with emulator(work, window_s=args.window_seconds) as emu, prefect_server(work) as prefect:
            print(f"emulator {emu.base_url}: windows of {emu.window_s:g} s; {machine_note()}")
            counts = {name: emu.followers_count(name) for name in TEAM}
            tokens = work / "tokens.json"
            _token_store(emu, tokens)
            extra = {
                "READ_WITH_USER_TOKENS": "true",
                "CLIENT_ID": str(emu.manifest["app"]["client_id"]),
                "TOKEN_STORE_PATH": str(tokens),
            }
            for run in range(args.runs):
                runs = (("ff_all", TEAM), ("ff_big_first", TEAM[::-1]), ("ff_one", [LARGEST]))
                for key, accounts in runs:
                    _after_windows(emu)
                    db = work / f"many-{key}-{run}.duckdb"
                    env = followflow_env(emu, prefect, db, **extra)
                    spec = {"params": {"accounts": accounts, "lists": "followers"}}
                    result = run_child("flow", spec, env, work)
                    expected = sum(counts[a] for a in accounts)
                    if result["error"] or result["users"] != expected:
                        raise SystemExit(f"followflow {key}: {result['error']} {result['users']}")
                    times[key].append(result["elapsed_s"])
                for key, accounts in (("tw_all", TEAM), ("tw_one", [LARGEST])):
                    _after_windows(emu)
                    peers = [
                        {"id": emu.user(a)["id"], "bearer": emu.user(a)["oauth2_access_token"]}
                        for a in accounts
                    ]
                    spec = {"base_url": emu.base_url, "bearer": emu.bearer, "accounts": peers}
                    result = run_child("tweepy", spec, followflow_env(emu, prefect, work / "x"),
                                       work)  # fmt: skip
                    if result["users"] != sum(counts[a] for a in accounts):
                        raise SystemExit(f"tweepy {key} read {result['users']}")
                    times[key].append(result["elapsed_s"])
                print(
                    f"  run {run + 1}: followflow all {times['ff_all'][-1]:.1f} s (largest "
                    f"first {times['ff_big_first'][-1]:.1f} s), "
                    f"{LARGEST} alone {times['ff_one'][-1]:.1f} s; tweepy all "
                    f"{times['tw_all'][-1]:.1f} s, {LARGEST} alone {times['tw_one'][-1]:.1f} s",
                    flush=True,
                )
    med = {k: median(v) for k, v in times.items()}
    total = sum(counts.values())
    print(
        f"\n== ten accounts ({total:,} followers, {sum(-(-c // 1000) for c in counts.values())} "
        f"pages), own user tokens, windows of {args.window_seconds:g} s; median of "
        f"{args.runs} run(s); {machine_note()}"
    )
    print(f"{'client':<11} {'all ten s':>10} {LARGEST + ' s':>12} {'ratio':>6}  verdict")
    ratio = med["ff_all"] / med["ff_one"]
    verdict = "OK <= largest + 5%" if ratio <= 1.05 else "over largest + 5%"
    print(
        f"{'followflow':<11} {med['ff_all']:>10.1f} {med['ff_one']:>12.1f} {ratio:>6.2f}  {verdict}"
    )
    big = med["ff_big_first"] / med["ff_one"]
    verdict = "OK <= largest + 5%" if big <= 1.05 else "over largest + 5%"
    print(f"{'  largest 1st':<11} {med['ff_big_first']:>10.1f} {med['ff_one']:>12.1f} {big:>6.2f}  "
          f"{verdict} (accounts given ff_team9..ff_team0)")  # fmt: skip
    print(
        f"{'tweepy':<11} {med['tw_all']:>10.1f} {med['tw_one']:>12.1f} "
        f"{med['tw_all'] / med['tw_one']:>6.2f}  sequential: the sum"
    )
    print(f"followflow all ten vs tweepy all ten: {med['tw_all'] / med['ff_all']:.1f}x faster")


if __name__ == "__main__":
    main()
