"""The report's short markdown form, for a Prefect markdown artifact after each snapshot."""

from __future__ import annotations

from collections import Counter

from followflow.report.data import ReportData


def _cell(text: str) -> str:
    # Usernames and outcomes end up in table cells; a pipe or newline would break the table.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(data: ReportData) -> str:
    """Markdown: latest counts, the last few snapshots' changes, actions, budget use."""
    account = data.account
    lines = [
        f"# followflow report: {_cell(account.label)}",
        "",
        f"Account id {account.account_id}, as of {data.now:%Y-%m-%d %H:%M:%S} UTC.",
        "",
    ]
    if not data.counts:
        lines += ["**No snapshots yet.** Run `followflow snapshot` to take the first one.", ""]
    else:
        lines += ["| | Count | As of (UTC) |", "|---|---:|---|"]
        for kind in ("followers", "following"):
            point = data.latest(kind)
            if point is not None:
                lines.append(
                    f"| {kind.capitalize()} | {point.users_seen:,} | {point.at:%Y-%m-%d %H:%M:%S} |"
                )
        lines.append("")
    if data.changes:
        lines += [
            "## Gained and lost followers",
            "",
            "| Snapshot | Finished (UTC) | Gained | Lost | Unfollowed | Suspended | Deactivated |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for c in reversed(data.changes[-5:]):
            label = f"#{c.snapshot_id}" + (" (baseline)" if c.baseline else "")
            lines.append(
                f"| {label} | {c.at:%Y-%m-%d %H:%M:%S} | {c.gained:,} | {c.lost:,} | "
                f"{c.lost_unfollowed:,} | {c.lost_suspended:,} | {c.lost_deactivated:,} |"
            )
        lines.append("")
    lines += ["## Campaign actions", ""]
    totals: Counter[tuple[str, str]] = Counter()
    for row in data.actions:
        totals[row.action, row.outcome] += row.count
    if totals:
        lines += ["| Action | Outcome | Count |", "|---|---|---:|"]
        lines += [
            f"| {_cell(action)} | {_cell(outcome)} | {n:,} |"
            for (action, outcome), n in sorted(totals.items())
        ]
    else:
        lines.append("No campaign actions yet.")
    lines += ["", "## Budget use, rolling 24 hours", ""]
    lines += [f"- {u.label}: {u.used:,} of {u.limit:,} ({u.left:,} left)" for u in data.budgets]
    lines += [
        f"- X reported the {_cell(p.action)} budget of app `{_cell(p.app_id)}` spent until "
        f"{p.reset_at:%Y-%m-%d %H:%M:%S} UTC"
        for p in data.parks
    ]
    return "\n".join(lines) + "\n"
