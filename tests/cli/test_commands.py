"""`followflow snapshot`, `follow-back` and `report` as a user runs them: real processes
against the emulator over loopback and a real Prefect server."""

from __future__ import annotations

import re

from tests.cli.conftest import Wired


def quiet(done) -> None:  # type: ignore[no-untyped-def]
    """Exit 0 and no traceback or log noise."""
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert not re.search(r"\b(WARNING|ERROR)\b", output), output


def test_snapshot_prints_one_line_per_list(wired: Wired) -> None:
    done = wired.run("snapshot", "@ff_demo", "ff_bob")
    quiet(done)
    lines = done.stdout.splitlines()
    for account in ("ff_demo", "ff_bob"):
        followers = len(wired.emulator.truth_followers(int(wired.emulator.account(account).id)))
        assert f"@{account} followers: {followers:,} read, baseline" in lines
        assert any(line.startswith(f"@{account} following: ") for line in lines)
    assert (wired.cwd / "followflow.duckdb").exists()


def test_follow_back_dry_run_then_live_with_yes(wired: Wired) -> None:
    dry = wired.run("follow-back", "ff_demo", "--max-follows", "3")
    quiet(dry)
    assert "Dry run: nothing was followed" in dry.stdout
    assert wired.follows_by("ff_demo") == []

    live = wired.run("follow-back", "ff_demo", "--live", "--yes", "--max-follows", "3")
    quiet(live)
    assert "followed 3, failed 0" in live.stdout
    assert len(wired.follows_by("ff_demo")) == 3


def test_report_writes_the_page(wired: Wired) -> None:
    quiet(wired.run("snapshot", "ff_alice"))
    done = wired.run("report", "ff_alice")
    quiet(done)
    page = wired.cwd / "followflow-report-ff_alice.html"
    assert f"wrote {page.name}" in done.stdout
    html = page.read_text()
    assert html.lower().startswith("<!doctype html>")
    assert "<svg" in html and "ff_alice" in html


def test_a_bad_setting_exits_2_with_one_line_naming_it(wired: Wired) -> None:
    for command in (["report", "ff_demo"], ["serve"], ["snapshot", "ff_demo"]):
        done = wired.run(*command, FOLLOWFLOW_PAGE_SIZE="5000")
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1, (command, done.stderr)
        assert done.stderr.startswith("followflow: error: FOLLOWFLOW_PAGE_SIZE: "), done.stderr
        assert done.stdout == ""
