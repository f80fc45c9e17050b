"""The SVG chart renderer: valid XML, one shape per series, points placed from the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followflow.report.chart import (
    BarSeries,
    Series,
    bar_chart,
    format_number,
    line_chart,
    nice_ticks,
    tick_labels,
    time_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"
T = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def polylines(root: ET.Element) -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list[tuple[float, float]]] = {}
    for line in root.iter(f"{SVG}polyline"):
        pairs = [p.split(",") for p in line.attrib["points"].split()]
        found[line.attrib["data-series"]] = [(float(x), float(y)) for x, y in pairs]
    return found


def texts(root: ET.Element, group: str) -> list[str]:
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == group]
    return [t.text or "" for g in groups for t in g.iter(f"{SVG}text")]


def test_line_chart_has_one_polyline_per_series_mapping_the_data() -> None:
    followers = [(T, 1000.0), (T + 3600, 1010.0), (T + 7200, 990.0), (T + 10800, 1050.0)]
    following = [(T, 400.0), (T + 10800, 420.0)]
    root = parse(
        line_chart(
            [Series("Followers", "#1d9bf0", followers), Series("Following", "#f97316", following)],
            title="Counts",
        )
    )
    lines = polylines(root)
    assert set(lines) == {"Followers", "Following"}
    pts = lines["Followers"]
    assert len(pts) == 4
    # x is linear in time, y linear in value and upside down (SVG y grows downwards).
    dx = [(b[0] - a[0]) for a, b in zip(pts, pts[1:], strict=False)]
    assert dx[0] == pytest.approx(dx[1], abs=0.2) == pytest.approx(dx[2], abs=0.2)
    per_unit = (pts[1][1] - pts[0][1]) / (1010 - 1000)
    assert per_unit < 0
    assert (pts[3][1] - pts[0][1]) / (1050 - 1000) == pytest.approx(per_unit, rel=0.02)
    # Both series share the axes: the same instants land on the same x.
    assert lines["Following"][0][0] == pts[0][0] and lines["Following"][1][0] == pts[3][0]
    assert texts(root, "legend") == ["Followers", "Following"]
    y_labels = [int(t.replace(",", "")) for t in texts(root, "y-axis")]
    assert y_labels[0] <= 400 and y_labels[-1] >= 1050
    assert texts(root, "x-axis") == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00"]
    x_axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "x-axis")
    first_tick = next(t for t in x_axis.iter(f"{SVG}text"))
    assert float(first_tick.attrib["x"]) == pytest.approx(pts[0][0], abs=0.1)
    assert len(list(root.iter(f"{SVG}circle"))) == 6


def test_zero_points_draw_a_message_not_a_line() -> None:
    root = parse(line_chart([Series("Followers", "#1d9bf0", [])], title="t", empty_message="Nada"))
    assert polylines(root) == {}
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "no-data"] == ["Nada"]
    assert parse(bar_chart([], [], title="t")).find(f".//{SVG}rect") is not None


def test_one_point_draws_a_marker_inside_the_plot() -> None:
    root = parse(line_chart([Series("Followers", "#1d9bf0", [(T, 3.0)])], title="t"))
    (point,) = polylines(root)["Followers"]
    (circle,) = root.iter(f"{SVG}circle")
    assert (float(circle.attrib["cx"]), float(circle.attrib["cy"])) == point
    assert 64 < point[0] < 960 - 20 and 40 < point[1] < 320 - 40
    assert texts(root, "x-axis")  # the padded hour around the point still has ticks


def test_large_numbers_get_compact_labels() -> None:
    root = parse(
        line_chart(
            [Series("Followers", "#1d9bf0", [(T, 1_000_000.0), (T + 60, 1_250_000.0)])], title="t"
        )  # fmt: skip
    )
    labels = texts(root, "y-axis")
    assert "1M" in labels and "1.25M" in labels
    assert all(len(label) <= 6 for label in labels)
    # A million-follower account moving by thousands keeps distinct labels.
    assert tick_labels(nice_ticks(1_000_000, 1_006_792)) == [
        "1M", "1.002M", "1.004M", "1.006M", "1.008M",
    ]  # fmt: skip
    assert [format_number(v) for v in (0, 999, 12_345, 150_000, 2_500_000, -40)] == [
        "0", "999", "12,345", "150k", "2.5M", "\u221240",
    ]  # fmt: skip


def test_bar_chart_one_rect_per_category_and_series_negative_below_zero() -> None:
    root = parse(
        bar_chart(
            ["#2", "#3", "#4"],
            [BarSeries("Gained", "#00ba7c", [5, 0, 12]), BarSeries("Lost", "#f4212e", [-3, 0, -8])],
            title="t",
        )
    )
    bars: dict[str, list[ET.Element]] = {}
    for rect in root.iter(f"{SVG}rect"):
        if rect.get("class") == "bar":
            bars.setdefault(rect.attrib["data-series"], []).append(rect)
    assert {k: len(v) for k, v in bars.items()} == {"Gained": 3, "Lost": 3}
    zero = float(next(e for e in root.iter(f"{SVG}line") if e.get("class") == "zero").get("y1", ""))
    gained_12 = bars["Gained"][2]
    lost_8 = bars["Lost"][2]
    assert float(gained_12.attrib["y"]) + float(gained_12.attrib["height"]) == pytest.approx(zero)
    assert float(lost_8.attrib["y"]) == pytest.approx(zero)
    assert float(gained_12.attrib["height"]) / 12 == pytest.approx(
        float(lost_8.attrib["height"]) / 8, rel=0.02
    )
    assert float(bars["Gained"][1].attrib["height"]) == 0
    with pytest.raises(ValueError, match="has 1 values"):
        bar_chart(["a", "b"], [BarSeries("x", "#000", [1])], title="t")


def test_names_are_escaped_in_svg() -> None:
    svg = line_chart([Series("<script>&", "#1d9bf0", [(T, 1.0)])], title="a<b")
    root = parse(svg)
    assert "<script>" not in svg
    assert polylines(root).keys() == {"<script>&"}


@given(
    lo=st.integers(min_value=-(10**9), max_value=10**9),
    span=st.integers(min_value=0, max_value=10**9),
)
def test_nice_ticks_cover_the_range_with_even_steps(lo: int, span: int) -> None:
    ticks = nice_ticks(lo, lo + span)
    assert ticks[0] <= lo and ticks[-1] >= lo + span
    assert 2 <= len(ticks) <= 12
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(steps) == pytest.approx(min(steps), rel=1e-6)


def test_time_ticks_fit_the_span() -> None:
    ticks, fmt = time_ticks(T, T + 40)  # the demo's compressed clock: seconds apart
    assert fmt == "%H:%M:%S" and all(T <= t <= T + 40 for t in ticks) and len(ticks) >= 2
    ticks, fmt = time_ticks(T, T + 90 * 86400)
    assert fmt == "%b %d" and 2 <= len(ticks) <= 6
