"""The comparison report in a real headless browser: rendered, sortable, tooltips, offline, phone-sized.

Debian's Chromium (``/usr/bin/chromium``; ``make browser`` installs it where the user may install system
packages) driven through Playwright; Playwright's own browser downloads are never used. Without
Chromium or Playwright the test is skipped and says why. The screenshot is kept under the test's
tmp_path; the README's copy (docs/images/comparison_report.png) is written when it is missing or when
DAF_UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the repository as it was.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from daf_core.comparison import formatting as fmt
from daf_core.visualization.comparison_plots import comparison_figures
from tests.visualization.comparison_outputs import MISSION, POLICIES, tiny_walk_page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "comparison_report.png"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 1500}


def skip_without_browser() -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (run `make browser`, or apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401, PLC0415 - only this test needs it
        except ImportError:
            reason = "Python Playwright is not installed (pip install -e '.[dev]')"
    if reason:
        print(f"skipping the browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    skip_without_browser()
    return tiny_walk_page(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def browser():
    skip_without_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_offline(browser, path: Path, viewport: dict[str, int]):
    """A page on the report, with every request recorded and every one but the file itself refused."""
    context = browser.new_context(viewport=viewport)
    requests: list[str] = []
    refused: list[str] = []
    errors: list[str] = []
    url = path.as_uri()

    def route(route):
        if route.request.url == url:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(url, wait_until="load")
    return context, page, requests, refused, errors


def leaderboard_policies(page) -> list[str]:
    return page.locator("#leaderboard tbody tr td:nth-child(2)").all_inner_texts()


def test_the_report_renders_sorts_shows_tooltips_and_stays_offline(browser, report_page, tmp_path):
    report, path = report_page
    context, page, requests, refused, errors = open_offline(browser, path, DESKTOP)

    # Every policy, mission and figure is there and visible; figures decoded to real images.
    for policy in POLICIES:
        assert page.locator("#leaderboard tbody td", has_text=policy).first.is_visible()
    assert page.locator("#missions h3", has_text=MISSION).is_visible()
    assert page.locator("#design tbody td", has_text=MISSION).is_visible()
    figures = page.locator("figure.report-figure")
    assert figures.count() == len(comparison_figures(report)) > 0
    for index in range(figures.count()):
        figure = figures.nth(index)
        figure.scroll_into_view_if_needed()
        assert figure.is_visible()
        assert figure.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

    # Clicking a header sorts the rows by that column; clicking again reverses them.
    iqm = {p: report.summary_statistics[p][MISSION]["iqm"] for p in POLICIES}
    header = page.locator("#leaderboard thead th", has_text="Policy")
    header.locator("button").click()
    assert leaderboard_policies(page) == sorted(POLICIES)
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    assert leaderboard_policies(page) == sorted(POLICIES, reverse=True)
    before = leaderboard_policies(page)  # equal IQMs keep this order: the sort is stable
    assert leaderboard_policies(page) == before
    page.locator("#leaderboard thead th").filter(has_text="IQM").first.locator("button").click()
    assert leaderboard_policies(page) == sorted(POLICIES, key=lambda p: (iqm[p], before.index(p)))

    # Hovering a point of the chart shows its value and interval.
    tip = page.locator("#tip")
    assert tip.is_hidden()
    for policy in POLICIES:
        stats = report.summary_statistics[policy][MISSION]
        point = page.locator(f'#estimates .pt[data-tip^="{policy} on {MISSION}"]')
        point.hover()
        assert tip.is_visible()
        assert (
            f"mean {fmt.number(stats['mean'])}, 95% CI {fmt.interval(stats['ci_low'], stats['ci_high'])}"
            in (tip.inner_text())
        )

    # No request left the page: the file itself is the only one, and nothing had to be refused.
    assert requests == [path.as_uri()] and refused == [] and errors == []

    # The screenshot: the leaderboard and the chart as a reader first sees them, one tooltip open.
    page.reload(wait_until="load")
    page.locator("#leaderboard").evaluate("e => e.scrollIntoView()")
    page.locator("#estimates .pt").first.hover()
    top, bottom = page.locator("#leaderboard").bounding_box(), page.locator("#estimates").bounding_box()
    clip = {
        "x": 0,
        "y": top["y"],
        "width": DESKTOP["width"],
        "height": bottom["y"] + bottom["height"] - top["y"],
    }
    assert clip["y"] + clip["height"] <= DESKTOP["height"]  # all of it on screen, the tooltip included
    shot = tmp_path / "comparison_report.png"
    page.screenshot(path=str(shot), clip=clip)
    context.close()
    assert requests == [path.as_uri()] * 2 and refused == [] and errors == []  # the reload: the file again
    with Image.open(shot) as image:
        assert image.size == (DESKTOP["width"], round(clip["height"]))
        if not README_SCREENSHOT.exists() or os.environ.get("DAF_UPDATE_SCREENSHOTS") == "1":
            README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            image.convert("RGB").quantize(colors=256).save(
                README_SCREENSHOT, optimize=True
            )  # small to commit


def test_a_phone_sized_window_never_scrolls_sideways(browser, report_page, tmp_path):
    _, path = report_page
    context, page, _, refused, errors = open_offline(browser, path, PHONE)

    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth, "
        "document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
    # Wide tables scroll inside their own frame instead, and the figures shrink to the screen.
    frames = page.locator(".table-wrap").evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    assert frames and max(frames) <= PHONE["width"]
    images = page.locator("figure img").evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    assert images and max(images) <= PHONE["width"]
    assert refused == [] and errors == []
    page.screenshot(path=str(tmp_path / "comparison_report_phone.png"), full_page=True)
    context.close()
