"""`followflow --help` lists every command of DESIGN.md §3, and each has its own --help."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cli.conftest import clean_environment, followflow

COMMANDS = [
    ["demo"],
    ["emulator"],
    ["snapshot"],
    ["follow-back"],
    ["unfollow-cleanup"],
    ["auth"],
    ["auth", "login"],
    ["auth", "status"],
    ["report"],
    ["serve"],
]


def test_help_lists_every_command_and_each_has_help(tmp_path: Path) -> None:
    env = clean_environment(tmp_path) | {"COLUMNS": "120"}
    top = followflow("--help", env=env, cwd=tmp_path, timeout=30)
    assert top.returncode == 0, top.stderr
    listed = {line.split()[1] for line in top.stdout.splitlines() if line.startswith("│ ")}
    assert {c[0] for c in COMMANDS} <= listed

    with ThreadPoolExecutor(4) as pool:
        helps = list(
            pool.map(
                lambda c: followflow(*c, "--help", env=env, cwd=tmp_path, timeout=30), COMMANDS
            )
        )
    for command, shown in zip(COMMANDS, helps, strict=True):
        assert shown.returncode == 0, (command, shown.stderr)
        assert f"Usage: followflow {' '.join(command)}" in shown.stdout, command
        assert shown.stderr == "", command
