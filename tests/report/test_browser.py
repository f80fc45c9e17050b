"""The page renders in headless Chromium and the screenshot shows the counts chart."""

from __future__ import annotations

from pathlib import Path

from followflow.report import build_report, write_report
from followflow.report.html import FOLLOWERS_COLOR
from followflow.store.dialect import Connection
from tests.browser import chromium, needs_chromium
from tests.report.png import Image, read_png
from tests.report.world import ACCOUNT, NOW

WIDTH, HEIGHT = 1200, 900
# Where the followers chart sits in a 1200x900 window: right of the y-axis labels, below the
# tiles and the legend (its swatch has the same colour), above the next card.
CHART_BOX = (150, 338, 1100, 540)  # left, top, right, bottom

pytestmark = needs_chromium


def screenshot(page: Path, tmp: Path) -> Path:
    png = tmp / f"{page.stem}.png"
    chromium(
        f"--screenshot={png}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
        profile=tmp / "chromium-profile",
    )
    assert png.exists(), "chromium exited 0 without writing the screenshot"
    return png


def series_pixels(image: Image, box: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    """Pixels close to the followers colour (anti-aliasing shifts the edges) inside `box`."""
    target = tuple(int(FOLLOWERS_COLOR[i : i + 2], 16) for i in (1, 3, 5))
    left, top, right, bottom = box
    found = []
    for y in range(top, bottom):
        row = image.rows[y]
        for x in range(left, right):
            i = x * image.channels
            if sum(abs(row[i + c] - target[c]) for c in range(3)) <= 60:
                found.append((x, y))
    return found


def test_screenshot_shows_the_followers_line(
    world: dict[str, int], con: Connection, tmp_path: Path
) -> None:
    page = write_report(build_report(con, ACCOUNT, now=NOW), tmp_path / "report.html")
    image = read_png(screenshot(page, tmp_path), max_rows=CHART_BOX[3])
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    pixels = series_pixels(image, CHART_BOX)
    # A 2.5 px line drawn across the plot: thousands of pixels spanning most of its width.
    assert len(pixels) > 1000, len(pixels)  # 1,595 measured
    xs = [x for x, _ in pixels]
    assert max(xs) - min(xs) > 800
    # It rises (100 -> 105 -> 110): its right end is drawn higher than its left end.
    left_ys = [y for x, y in pixels if x < min(xs) + 40]
    right_ys = [y for x, y in pixels if x > max(xs) - 40]
    assert sum(right_ys) / len(right_ys) < sum(left_ys) / len(left_ys) - 20


def test_screenshot_of_an_empty_account_has_no_chart(empty_con: Connection, tmp_path: Path) -> None:
    page = write_report(build_report(empty_con, 5555, now=NOW), tmp_path / "empty.html")
    image = read_png(screenshot(page, tmp_path), max_rows=CHART_BOX[3])
    assert len(series_pixels(image, CHART_BOX)) < 20
