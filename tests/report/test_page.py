"""The HTML page and the markdown summary: content, escaping, self-containment, empty states."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from followflow.report import build_report, summary_markdown, write_report
from followflow.store.connection import connect
from followflow.store.dialect import Connection
from tests.report.world import ACCOUNT, NOW, T0, add_profile, take_snapshot

SVG = "{http://www.w3.org/2000/svg}"


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def test_page_shows_counts_changes_actions_and_budgets(
    world: dict[str, int], con: Connection
) -> None:
    page = build_report(con, ACCOUNT, now=NOW)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>followflow report \u2014 @ff_demo</title>" in page
    assert "Demo Account" in page and "Account id 42" in page
    followers_chart, following_chart, changes_chart, actions_chart = svgs(page)
    lines = {
        p.attrib["data-series"]: [
            tuple(map(float, xy.split(","))) for xy in p.attrib["points"].split()
        ]
        for chart in (followers_chart, following_chart)
        for p in chart.iter(f"{SVG}polyline")
    }
    assert {k: len(v) for k, v in lines.items()} == {"Followers": 3, "Following": 2}
    assert next(followers_chart.iter(f"{SVG}polyline")).attrib["stroke"] == "#1d9bf0"
    # The two panels share the time axis: s1 (00:00) is left of f1 (00:01), s4 and f2 (12:00)
    # line up.
    assert lines["Followers"][0][0] < lines["Following"][0][0] < lines["Followers"][1][0]
    assert lines["Followers"][2][0] == lines["Following"][1][0]
    # The baseline is left out of the changes chart: bars for s3 and s4 only.
    bars = [r for r in changes_chart.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert [r.findtext(f"{SVG}title") for r in bars] == [
        f"#{world['s3']} \u2014 Gained: 15",
        f"#{world['s4']} \u2014 Gained: 5",
        f"#{world['s3']} \u2014 Lost: \u221210",
        f"#{world['s4']} \u2014 Lost: 0",
    ]
    day_bars = [r for r in actions_chart.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert [r.findtext(f"{SVG}title") for r in day_bars] == [
        "Jan 01 \u2014 Follows: 5",
        "Jan 02 \u2014 Follows: 3",
        "Jan 01 \u2014 Unfollows: 3",
        "Jan 02 \u2014 Unfollows: 0",
    ]
    assert '<div class="value">110</div>' in page and '<div class="value">45</div>' in page
    row = re.search(rf"<tr><td>#{world['s3']}</td>.*?</tr>", page)
    assert row is not None
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(0))
    assert [re.sub(r"<[^>]+>", "", c) for c in cells] == ["105", "+15", "\u221210", "5", "3", "2"]
    assert "<strong>4</strong> / 400" in page and "<strong>9</strong> / 1,000" in page
    assert "<strong>5</strong> / 500" in page
    assert "parked until 2026-01-02 18:00:00 UTC" in page
    assert f"snapshot #{world['partial']}" not in page and f"#{world['partial']}<" not in page


def test_page_is_self_contained(world: dict[str, int], con: Connection) -> None:
    page = build_report(con, ACCOUNT, now=NOW)
    without_ns = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for needle in ("http://", "https://", "<script", "<link", " src=", "@import", "url("):
        assert needle not in without_ns.lower()


def test_user_text_is_escaped(db_with_hostile_profile: Path) -> None:
    with connect(db_with_hostile_profile, lock_timeout_s=5) as c:
        page = build_report(c, 77, now=NOW)
        summary = summary_markdown(c, 77, now=NOW)
    assert "<script>" not in page and "<b>" not in page
    assert "@&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;" in page
    for svg in svgs(page):  # still well-formed
        assert svg.tag == f"{SVG}svg"
    assert "a\\|b" in summary  # a pipe in a username cannot break the markdown table


@pytest.fixture
def db_with_hostile_profile(tmp_path: Path) -> Path:
    db = tmp_path / "hostile.duckdb"
    add_profile(db, 77, "<script>alert(1)</script>", "Tom & <b>Jerry</b>")
    take_snapshot(db, 77, "followers", [1, 2], T0)
    with connect(db, lock_timeout_s=5) as c:
        c.execute(
            """INSERT INTO actions (idempotency_key, app_id, account_id, target_id, action,
                                   status, outcome, reserved_at, completed_at)
               VALUES ('k', 'app', 77, 1, 'follow', 'failed', 'a|b', ?, ?)""",
            [T0, T0],
        )
    return db


def test_empty_account_gets_a_clear_page(empty_con: Connection) -> None:
    page = build_report(empty_con, 123, now=NOW)
    assert "No snapshots yet" in page and "No campaign actions yet" in page
    assert "<polyline" not in page
    assert "<strong>0</strong> / 400" in page
    summary = summary_markdown(empty_con, 123, now=NOW)
    assert "**No snapshots yet.**" in summary and "No campaign actions yet." in summary


def test_naive_now_is_refused(empty_con: Connection) -> None:
    with pytest.raises(ValueError, match="aware"):
        build_report(empty_con, 1, now=datetime(2026, 1, 1))


def test_summary_markdown(world: dict[str, int], con: Connection) -> None:
    text = summary_markdown(con, ACCOUNT, now=NOW)
    assert text.startswith("# followflow report: @ff_demo\n")
    assert "| Followers | 110 | 2026-01-01 12:00:00 |" in text
    assert "| Following | 45 | 2026-01-01 12:00:00 |" in text
    assert f"| #{world['s3']} | 2026-01-01 06:00:00 | 15 | 10 | 5 | 3 | 2 |" in text
    assert f"| #{world['s1']} (baseline) |" in text
    assert "| follow | following | 5 |" in text and "| unfollow | unfollowed | 3 |" in text
    assert "- Follows by this account: 4 of 400 (396 left)" in text
    assert "- Unfollows by the app: 5 of 500 (495 left)" in text
    assert "budget of app `app-1` spent until 2026-01-02 18:00:00 UTC" in text


def test_write_report_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    assert write_report("<p>one</p>", target) == target
    assert target.read_text(encoding="utf-8") == "<p>one</p>"
    write_report("<p>two</p>", target)
    assert target.read_text(encoding="utf-8") == "<p>two</p>"
    # A write that fails half-way (an unencodable character) leaves the old page whole.
    with pytest.raises(UnicodeEncodeError):
        write_report("<p>three \ud800</p>", target)
    assert target.read_text(encoding="utf-8") == "<p>two</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
