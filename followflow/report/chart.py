"""Dependency-free SVG charts: a time line chart and a grouped bar chart.

The page must open without a network, so charts are inline SVG strings rather than a
JavaScript library. Each series is one `<polyline class="series">` (line) or one
`<rect class="bar">` per category (bars), tagged with `data-series`, so tests and readers
can find them. Hovering a marker or a bar shows its value through SVG `<title>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
AXIS = "#94a3b8"
GRID = "#e2e8f0"
TEXT = "#475569"
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 20, 40, 40
MAX_MARKERS = 60
MAX_BAR_WIDTH = 28.0  # beyond this many points per series the line alone reads better

# Candidate time-tick steps in seconds: the demo's compressed clock finishes snapshots
# seconds apart, a real deployment months apart.
_TIME_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400,
)  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points, x in epoch seconds for time charts."""

    name: str
    color: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class BarSeries:
    """One bar per category; negative values grow downwards from zero."""

    name: str
    color: str
    values: Sequence[float]


def format_number(value: float, *, decimals: int | None = None) -> str:
    """Compact, readable numbers: 950, 12,345, 150k, 1.25M; '−' for negatives.

    `decimals` fixes the most decimals of the k and M forms (default 2 for M, 1 for k).
    """
    sign = "\u2212" if value < 0 else ""
    v = abs(value)
    if v >= 1_000_000:
        places = 2 if decimals is None else decimals
        text = f"{v / 1_000_000:.{places}f}".rstrip("0").rstrip(".") + "M"
    elif v >= 100_000:
        places = 1 if decimals is None else decimals
        text = f"{v / 1000:.{places}f}".rstrip("0").rstrip(".") + "k"
    elif v == int(v):
        text = f"{int(v):,}"
    else:
        text = f"{v:,.2f}".rstrip("0").rstrip(".")
    return sign + text


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels for `ticks`: compact like `format_number`, with as many decimals as keep them
    apart (1M, 1.002M, 1.004M), else the full number."""
    for decimals in range(4):
        labels = [format_number(t, decimals=decimals) for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{t:,.0f}".replace("-", "\u2212") for t in ticks]


def nice_ticks(lo: float, hi: float, *, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi], ends included."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("tick bounds must be finite")
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1.0):
        pad = max(abs(lo) * 0.05, 1.0)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    count = round((stop - start) / step)
    # Rounding to the step's precision avoids labels like 0.30000000000000004.
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(start + i * step, digits) for i in range(count + 1)]


def time_ticks(lo: float, hi: float, *, target: int = 6) -> tuple[list[float], str]:
    """UTC-aligned tick times inside [lo, hi] and the strftime format that suits their step."""
    span = max(hi - lo, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= target), _TIME_STEPS[-1])
    first = math.ceil(lo / step) * step
    ticks = [float(t) for t in range(int(first), int(hi) + 1, step)]
    if step < 60:
        fmt = "%H:%M:%S"
    elif step < 86400:
        fmt = "%b %d %H:%M" if span > 86400 else "%H:%M"
    else:
        fmt = "%b %Y" if span > 2 * 365 * 86400 else "%b %d"
    return ticks, fmt


def format_time(epoch: float, fmt: str) -> str:
    """A UTC time label."""
    return datetime.fromtimestamp(epoch, UTC).strftime(fmt)


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open_svg(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'font-family="{escape(FONT)}" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]


def _legend(names_colors: Sequence[tuple[str, str]], x: float) -> list[str]:
    parts = ['<g class="legend">']
    for name, color in names_colors:
        parts.append(
            f'<rect x="{_n(x)}" y="14" width="14" height="14" rx="3" fill="{escape(color)}"/>'
            f'<text x="{_n(x + 20)}" y="25.5" fill="{TEXT}" font-size="13">{escape(name)}</text>'
        )
        # No font metrics without a browser: an average glyph width keeps entries apart.
        x += 20 + 7.5 * len(name) + 24
    parts.append("</g>")
    return parts


def _no_data(parts: list[str], width: int, height: int, message: str) -> str:
    parts.append(
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{width - MARGIN_LEFT - MARGIN_RIGHT}" '
        f'height="{height - MARGIN_TOP - MARGIN_BOTTOM}" fill="#f8fafc" stroke="{GRID}"/>'
        f'<text class="no-data" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
        f'fill="{TEXT}" font-size="14">{escape(message)}</text></svg>'
    )
    return "".join(parts)


def _y_axis(
    parts: list[str], ticks: Sequence[float], y_of: Callable[[float], float], width: int
) -> None:
    parts.append('<g class="y-axis">')
    for tick, label in zip(ticks, tick_labels(ticks), strict=True):
        y = y_of(tick)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="{GRID}"/>'
            f'<text x="{MARGIN_LEFT - 8}" y="{_n(y + 4)}" text-anchor="end" fill="{TEXT}">'
            f"{escape(label)}</text>"
        )
    parts.append("</g>")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    width: int = 960,
    height: int = 320,
    time_axis: bool = True,
    x_range: tuple[float, float] | None = None,
    empty_message: str = "No data yet",
) -> str:
    """An SVG line chart of `series` with axes, ticks, gridlines and a legend.

    Zero points draw a framed "no data" message; one point draws a marker centred on a
    padded axis. Y starts at a round value below the data (not always zero), so small
    changes of a large count stay visible. `x_range` widens the x axis to share it with
    another chart.
    """
    parts = _open_svg(width, height, title)
    parts += _legend([(s.name, s.color) for s in series], MARGIN_LEFT)
    points = [p for s in series for p in s.points]
    if not points:
        return _no_data(parts, width, height, empty_message)

    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x_lo, x_hi = min(xs), max(xs)
    if x_range is not None:
        x_lo, x_hi = min(x_lo, x_range[0]), max(x_hi, x_range[1])
    if x_hi == x_lo:
        pad = 3600.0 if time_axis else 1.0
        x_lo, x_hi = x_lo - pad, x_hi + pad
    y_ticks = nice_ticks(min(ys), max(ys), integer=all(float(y).is_integer() for y in ys))
    if min(ys) >= 0 and y_ticks[0] < 0:
        y_ticks = [t for t in y_ticks if t >= 0]
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    inset = 12.0  # keeps first and last markers off the axes

    def x_of(x: float) -> float:
        return MARGIN_LEFT + inset + (x - x_lo) / (x_hi - x_lo) * (plot_w - 2 * inset)

    def y_of(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    _y_axis(parts, y_ticks, y_of, width)
    base = height - MARGIN_BOTTOM
    parts.append(
        f'<g class="x-axis"><line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" '
        f'y1="{base}" y2="{base}" stroke="{AXIS}"/>'
    )
    if time_axis:
        ticks, fmt = time_ticks(x_lo, x_hi)
        labelled = [(t, format_time(t, fmt)) for t in ticks]
    else:
        labelled = [(t, format_number(t)) for t in nice_ticks(x_lo, x_hi) if x_lo <= t <= x_hi]
    for tick, label in labelled:
        x = x_of(tick)
        parts.append(
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{base}" y2="{base + 5}" stroke="{AXIS}"/>'
            f'<text x="{_n(x)}" y="{base + 20}" text-anchor="middle" fill="{TEXT}">'
            f"{escape(label)}</text>"
        )
    parts.append("</g>")

    for s in series:
        coords = " ".join(f"{_n(x_of(x))},{_n(y_of(y))}" for x, y in s.points)
        parts.append(
            f'<polyline class="series" data-series="{escape(s.name)}" points="{coords}" '
            f'fill="none" stroke="{escape(s.color)}" stroke-width="2.5" '
            'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        if len(s.points) <= MAX_MARKERS:
            for x, y in s.points:
                when = format_time(x, "%Y-%m-%d %H:%M:%S UTC") if time_axis else format_number(x)
                parts.append(
                    f'<circle class="marker" cx="{_n(x_of(x))}" cy="{_n(y_of(y))}" r="3.5" '
                    f'fill="#ffffff" stroke="{escape(s.color)}" stroke-width="2">'
                    f"<title>{escape(s.name)}: {escape(format_number(y))} at {escape(when)}"
                    "</title></circle>"
                )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    width: int = 960,
    height: int = 260,
    empty_message: str = "No data yet",
) -> str:
    """An SVG grouped bar chart: one group per category, one bar per series, zero baseline."""
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values, not {len(categories)}")
    parts = _open_svg(width, height, title)
    parts += _legend([(s.name, s.color) for s in series], MARGIN_LEFT)
    if not categories or not series:
        return _no_data(parts, width, height, empty_message)

    values = [v for s in series for v in s.values]
    y_ticks = nice_ticks(min(0.0, *values), max(0.0, *values), integer=True)
    if max(values) <= 0 and min(values) == 0:
        y_ticks = [0.0, 1.0]
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM

    def y_of(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    _y_axis(parts, y_ticks, y_of, width)
    group_w = plot_w / len(categories)
    # Capped so that two or three categories still look like bars, not slabs.
    bar_w = min(max(group_w * 0.8 / len(series), 1.0), MAX_BAR_WIDTH)
    zero = y_of(0.0)
    for si, s in enumerate(series):
        for ci, value in enumerate(s.values):
            x = MARGIN_LEFT + (ci + 0.5) * group_w + (si - len(series) / 2) * bar_w
            top, bottom = sorted((y_of(value), zero))
            parts.append(
                f'<rect class="bar" data-series="{escape(s.name)}" x="{_n(x)}" y="{_n(top)}" '
                f'width="{_n(bar_w)}" height="{_n(bottom - top)}" fill="{escape(s.color)}" '
                f'rx="1.5"><title>{escape(categories[ci])} \u2014 {escape(s.name)}: '
                f"{escape(format_number(value))}</title></rect>"
            )
    base = height - MARGIN_BOTTOM
    parts.append(
        f'<line class="zero" x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{_n(zero)}" '
        f'y2="{_n(zero)}" stroke="{AXIS}"/><g class="x-axis">'
    )
    every = max(1, math.ceil(len(categories) / max(plot_w // 80, 1)))
    for ci, label in enumerate(categories):
        if ci % every:
            continue
        x = MARGIN_LEFT + (ci + 0.5) * group_w
        parts.append(
            f'<text x="{_n(x)}" y="{base + 20}" text-anchor="middle" fill="{TEXT}">'
            f"{escape(label)}</text>"
        )
    parts.append("</g></svg>")
    return "".join(parts)
