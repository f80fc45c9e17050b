"""The report page: one self-contained HTML document (inline CSS and SVG, no scripts).

Every string that comes from the database or X (usernames, names, outcomes, app ids)
goes through `html.escape`: a profile name is attacker-controlled text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from followflow.report.chart import BarSeries, Series, bar_chart, line_chart
from followflow.report.data import ActionDay, BudgetPark, BudgetUse, ReportData, SnapshotChange

FOLLOWERS_COLOR = "#1d9bf0"  # the screenshot test looks for this colour: keep it unique
FOLLOWING_COLOR = "#f97316"
GAINED_COLOR = "#00ba7c"
LOST_COLOR = "#f4212e"
FOLLOWS_COLOR = "#6366f1"
UNFOLLOWS_COLOR = "#64748b"
MAX_TABLE_ROWS = 20

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f5f9;color:#0f172a;
  font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:28px 24px 40px}
header{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;
  margin-bottom:20px}
.brand{font-size:12px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;
  color:#64748b}
h1{margin:2px 0 0;font-size:28px;line-height:1.2}
h1 .name{font-weight:400;color:#64748b;font-size:20px;margin-left:8px}
.meta{color:#64748b;font-size:13px;text-align:right}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin-bottom:18px}
.tile{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:14px 16px}
.tile .label{color:#64748b;font-size:12px;font-weight:600;text-transform:uppercase;
  letter-spacing:.05em}
.tile .value{font-size:26px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.tile .sub{color:#64748b;font-size:12px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:18px 20px;
  margin-bottom:18px}
h2{font-size:17px;margin:0 0 4px}
.hint{color:#64748b;font-size:13px;margin:0 0 12px}
svg.chart{display:block;width:100%;height:auto}
table{width:100%;border-collapse:collapse;margin-top:14px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:bottom}
td{white-space:nowrap}
th{font-size:12px;color:#64748b;font-weight:600;text-transform:uppercase;letter-spacing:.04em;
  background:#f8fafc}
td.num,th.num{text-align:right}
.pos{color:#047857}.neg{color:#b91c1c}.muted{color:#94a3b8}
.badge{display:inline-block;padding:1px 7px;border-radius:999px;font-size:11px;
  background:#e2e8f0;color:#334155}
.empty{padding:28px;text-align:center;color:#475569;background:#f8fafc;
  border:1px dashed #cbd5e1;border-radius:8px}
.empty strong{display:block;font-size:16px;color:#0f172a;margin-bottom:4px}
code{background:#f1f5f9;padding:1px 5px;border-radius:4px;font-size:13px}
.budget{display:grid;grid-template-columns:220px 1fr 150px;gap:12px;align-items:center;
  padding:8px 0}
.meter{height:12px;background:#e2e8f0;border-radius:999px;overflow:hidden}
.meter span{display:block;height:100%;border-radius:999px}
.budget .figure{text-align:right;font-variant-numeric:tabular-nums}
.park{margin-top:10px;padding:8px 12px;background:#fef2f2;border:1px solid #fecaca;
  border-radius:8px;color:#991b1b}
footer{color:#94a3b8;font-size:12px;text-align:center;margin-top:8px}
"""


TABLE_TIME = "%Y-%m-%d %H:%M:%S"


def _t(value: datetime, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return escape(value.strftime(fmt))


def _signed(value: int, css: str) -> str:
    if value == 0:
        return '<span class="muted">0</span>'
    sign = "+" if css == "pos" else "\u2212"
    return f'<span class="{css}">{sign}{value:,}</span>'


def _tile(label: str, value: str, sub: str) -> str:
    return (
        f'<div class="tile"><div class="label">{escape(label)}</div>'
        f'<div class="value">{value}</div><div class="sub">{sub}</div></div>'
    )


def _tiles(data: ReportData) -> str:
    tiles = []
    for kind, label in (("followers", "Followers"), ("following", "Following")):
        point = data.latest(kind)
        if point is None:
            tiles.append(_tile(label, "\u2014", "no complete snapshot"))
        else:
            tiles.append(_tile(label, f"{point.users_seen:,}", f"as of {_t(point.at)}"))
    if data.changes:
        last = data.changes[-1]
        value = f"{_signed(last.gained, 'pos')} / {_signed(last.lost, 'neg')}"
        sub = (
            f"baseline #{last.snapshot_id}: changes show from the next one"
            if last.baseline
            else f"gained / lost, snapshot #{last.snapshot_id}"
        )
        tiles.append(_tile("Last snapshot", value, sub))
    else:
        tiles.append(_tile("Last snapshot", "\u2014", "gained / lost"))
    follows = data.budgets[0]
    tiles.append(
        _tile(
            "Follows, last 24 h",
            f"{follows.used:,}",
            f"of {follows.limit:,} for this account ({follows.left:,} left)",
        )
    )
    return f'<section class="tiles">{"".join(tiles)}</section>'


def _empty(title: str, body: str) -> str:
    return f'<div class="empty"><strong>{escape(title)}</strong>{body}</div>'


def _counts_section(data: ReportData) -> str:
    head = (
        '<section class="card" id="counts"><h2>Followers and following over time</h2>'
        '<p class="hint">Users seen by each complete snapshot.</p>'
    )
    if not data.counts:
        return (
            head
            + _empty(
                "No snapshots yet",
                f"No complete snapshot of {escape(data.account.label)} has been taken. "
                "Run <code>followflow snapshot</code>, then build this report again.",
            )
            + "</section>"
        )
    # One panel per list, sharing the time axis: on a shared y axis 1,000,000 followers
    # would flatten 1,200 following.
    times = [p.at.timestamp() for p in data.counts]
    charts = [
        line_chart(
            [
                Series(
                    name,
                    color,
                    [
                        (p.at.timestamp(), float(p.users_seen))
                        for p in data.counts
                        if p.kind == kind
                    ],
                )
            ],
            title=f"{name} over time",
            height=240,
            x_range=(min(times), max(times)),
            empty_message=f"No complete {kind} snapshot yet",
        )
        for kind, name, color in (
            ("followers", "Followers", FOLLOWERS_COLOR),
            ("following", "Following", FOLLOWING_COLOR),
        )
    ]
    return head + "".join(charts) + "</section>"


def _change_rows(changes: Sequence[SnapshotChange]) -> Iterable[str]:
    for c in reversed(changes[-MAX_TABLE_ROWS:]):
        badge = ' <span class="badge">baseline</span>' if c.baseline else ""
        yield (
            f"<tr><td>#{c.snapshot_id}{badge}</td><td>{_t(c.at, TABLE_TIME)}</td>"
            f"<td>{escape(c.mode)}</td>"
            f'<td class="num">{c.users_seen:,}</td>'
            f'<td class="num">{_signed(c.gained, "pos")}</td>'
            f'<td class="num">{_signed(c.lost, "neg")}</td>'
            f'<td class="num">{c.lost_unfollowed:,}</td>'
            f'<td class="num">{c.lost_suspended:,}</td>'
            f'<td class="num">{c.lost_deactivated:,}</td></tr>'
        )


def _changes_section(data: ReportData) -> str:
    head = (
        '<section class="card" id="changes"><h2>Gained and lost followers per snapshot</h2>'
        '<p class="hint">From the follower history. The first snapshot is the baseline and '
        "is left out of the chart; lost followers are split by why they left.</p>"
    )
    if not data.changes:
        return head + _empty("No follower snapshots yet", "") + "</section>"
    charted = [c for c in data.changes if not c.baseline]
    chart = bar_chart(
        [f"#{c.snapshot_id}" for c in charted],
        [
            BarSeries("Gained", GAINED_COLOR, [c.gained for c in charted]),
            BarSeries("Lost", LOST_COLOR, [-c.lost for c in charted]),
        ],
        title="Gained and lost followers per snapshot",
        empty_message="Only the baseline so far: changes show from the second snapshot on",
    )
    shown = min(len(data.changes), MAX_TABLE_ROWS)
    note = (
        f'<p class="hint">Showing the latest {shown} of {len(data.changes)} snapshots.</p>'
        if len(data.changes) > shown
        else ""
    )
    table = (
        "<table><thead><tr><th>Snapshot</th><th>Finished (UTC)</th><th>Mode</th>"
        '<th class="num">Followers seen</th><th class="num">Gained</th>'
        '<th class="num">Lost</th><th class="num">Unfollowed</th>'
        '<th class="num">Suspended</th><th class="num">Deactivated</th></tr></thead><tbody>'
        + "".join(_change_rows(data.changes))
        + "</tbody></table>"
    )
    return head + chart + table + note + "</section>"


def _actions_section(actions: Sequence[ActionDay]) -> str:
    head = (
        '<section class="card" id="actions"><h2>Campaign actions</h2>'
        '<p class="hint">Follows and unfollows per UTC day, by outcome, from the action '
        "ledger.</p>"
    )
    if not actions:
        return head + _empty("No campaign actions yet", "") + "</section>"
    days = sorted({a.day for a in actions})
    per_day = {(a.day, a.action): 0 for a in actions}
    for a in actions:
        per_day[a.day, a.action] += a.count
    chart = bar_chart(
        [d.strftime("%b %d") for d in days],
        [
            BarSeries(name, color, [per_day.get((d, action), 0) for d in days])
            for action, name, color in (
                ("follow", "Follows", FOLLOWS_COLOR),
                ("unfollow", "Unfollows", UNFOLLOWS_COLOR),
            )
        ],
        title="Campaign actions per day",
    )
    recent = sorted(actions, key=lambda a: (a.day, a.action, a.outcome), reverse=True)
    rows = "".join(
        f"<tr><td>{a.day.isoformat()}</td><td>{escape(a.action)}</td>"
        f'<td>{escape(a.outcome)}</td><td class="num">{a.count:,}</td></tr>'
        for a in recent[:MAX_TABLE_ROWS]
    )
    table = (
        "<table><thead><tr><th>Day (UTC)</th><th>Action</th><th>Outcome</th>"
        f'<th class="num">Count</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return head + chart + table + "</section>"


def _meter(use: BudgetUse) -> str:
    share = use.used / use.limit if use.limit else 1.0
    color = "#00ba7c" if share < 0.75 else "#f59e0b" if share < 1 else "#f4212e"
    return (
        f'<div class="budget"><div>{escape(use.label)}</div>'
        f'<div class="meter"><span style="width:{min(share, 1.0) * 100:.1f}%;'
        f'background:{color}"></span></div>'
        f'<div class="figure"><strong>{use.used:,}</strong> / {use.limit:,}</div></div>'
    )


def _park(park: BudgetPark) -> str:
    scope = "app-wide" if park.account_id is None else f"account {park.account_id}"
    return (
        f'<div class="park">X reported the {escape(park.action)} budget of app '
        f"<code>{escape(park.app_id)}</code> ({escape(scope)}) spent: parked until "
        f"{_t(park.reset_at)}.</div>"
    )


def _budget_section(data: ReportData) -> str:
    app = (
        f"app <code>{escape(data.app_id)}</code>"
        if data.app_id
        else "no action yet, so no app is known"
    )
    return (
        '<section class="card" id="budgets"><h2>Budget use, rolling 24 hours</h2>'
        f'<p class="hint">Reserved and done ledger rows in the 24 hours before '
        f"{_t(data.now)}; {app}.</p>"
        + "".join(_meter(u) for u in data.budgets)
        + "".join(_park(p) for p in data.parks)
        + "</section>"
    )


def render(data: ReportData) -> str:
    """The whole page for `data`."""
    account = data.account
    name = f'<span class="name">{escape(account.name)}</span>' if account.name else ""
    title = f"followflow report \u2014 {account.label}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><div><div class="brand">followflow report</div>'
        f"<h1>{escape(account.label)}{name}</h1></div>"
        f'<div class="meta">Account id {account.account_id}<br>Generated {_t(data.now)}</div>'
        "</header>"
        + _tiles(data)
        + _counts_section(data)
        + _changes_section(data)
        + _actions_section(data.actions)
        + _budget_section(data)
        + "<footer>Generated by followflow from its DuckDB file. All times are UTC.</footer>"
        "</main></body></html>\n"
    )
