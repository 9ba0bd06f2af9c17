"""The split chart reads in JupyterLab's dark theme and in its light one, as a person sees it.

JupyterLab's plotly renderer draws a figure as it is given, whatever the theme; meshnb's figures have a
clear background, so the page's shows through, and grey text. In Chromium: switch JupyterLab to
"JupyterLab Dark", run notebooks/01-cross-cluster-load-balancing.ipynb, and measure each split chart
(the panel's Split tab and the cell below): the colour of most of its pixels, and the computed fill of
every text it draws. Then switch back to "JupyterLab Light", which the rest of the suite expects, and
measure again.
"""

from __future__ import annotations

import base64

import pytest
from lab_driver import error_outputs, open_notebook, run_all_cells
from playwright.sync_api import Locator, Page, expect

NOTEBOOK = "01-cross-cluster-load-balancing.ipynb"
SPLIT_TITLE = "Which version answered each source cluster"
TIMEOUT_MS = 60_000

# The colour most of a PNG's pixels have, decoded by the browser's own PNG decoder.
DOMINANT_COLOUR_JS = """async (png) => {
    const bitmap = await createImageBitmap(await (await fetch('data:image/png;base64,' + png)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const counts = new Map();
    for (let i = 0; i < pixels.length; i += 4) {
        const key = pixels[i] * 65536 + pixels[i + 1] * 256 + pixels[i + 2];
        counts.set(key, (counts.get(key) || 0) + 1);
    }
    const [key, count] = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a));
    return {rgb: [key >> 16, (key >> 8) & 255, key & 255], share: count / (pixels.length / 4)};
}"""

# Every text the chart draws (not the hover labels, which plotly colours against the trace), with its
# computed fill and opacity, as [class of its group, "rgb(r, g, b)", opacity].
TEXT_FILLS_JS = """chart => [...chart.querySelectorAll('.main-svg text')]
    .filter(t => !t.closest('.hoverlayer') && t.textContent.trim())
    .map(t => {
        const style = getComputedStyle(t);
        return [t.parentNode.getAttribute('class') || t.getAttribute('class'), style.fill,
                parseFloat(style.fillOpacity)];
    })"""


def luminance(rgb: list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG 2 contrast ratio, from 1 (same) to 21 (black on white)."""
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def over(css: str, opacity: float, background: list[int]) -> list[float]:
    """A computed ``rgb(...)``/``rgba(...)`` fill as seen over ``background``."""
    values = [float(v) for v in css[css.index("(") + 1 : -1].split(",")]
    alpha = opacity * (values[3] if len(values) == 4 else 1.0)
    return [alpha * c + (1 - alpha) * b for c, b in zip(values[:3], background, strict=True)]


def set_theme(page: Page, theme: str) -> None:
    """JupyterLab's own command (Settings > Theme), then wait until the page shows the theme."""
    page.evaluate(
        "theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})",
        theme,
    )
    page.wait_for_function(
        "theme => document.body.dataset.jpThemeName === theme", arg=theme, timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(500)  # the theme's stylesheet applied and painted


@pytest.fixture
def themed_page(page: Page):
    """The page; JupyterLab is set back to its light theme afterwards (the lab is shared by the suite)."""
    yield page
    set_theme(page, "JupyterLab Light")


def split_charts(page: Page) -> list[Locator]:
    """Every split chart on the notebook: the panel's Split tab (shown) and the cell's output."""
    panel = page.locator(".meshnb-load-balancing").first
    panel.locator(".lm-TabBar-tab", has_text="Split").first.click()
    charts = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=SPLIT_TITLE))
    expect(charts).to_have_count(2, timeout=TIMEOUT_MS)
    return charts.all()


def measure(page: Page, chart: Locator) -> tuple[list[int], float, list[list]]:
    """The chart's background as painted (its most frequent colour and that colour's share of its
    pixels) and the fill of each text it draws."""
    chart.scroll_into_view_if_needed()
    page.mouse.move(0, 0)  # no hover label or tool bar over the chart
    page.wait_for_timeout(300)
    png = base64.b64encode(chart.screenshot()).decode()
    dominant = page.evaluate(DOMINANT_COLOUR_JS, png)
    return dominant["rgb"], dominant["share"], chart.evaluate(TEXT_FILLS_JS)


def check_readable(page: Page, *, dark: bool) -> None:
    for chart in split_charts(page):
        background, share, texts = measure(page, chart)
        assert share > 0.5, f"no background colour covers most of the chart: {background} on {share:.0%}"
        if dark:
            assert luminance(background) < 0.05, f"background {background} is not dark"
        else:
            assert luminance(background) > 0.85, f"background {background} is not light"
        ticks = [text for text in texts if text[0] == "xtick"]
        assert ticks, texts  # the axis's tick labels (0%, 20%, ...)
        for group, fill, opacity in texts:
            seen = over(fill, opacity, background)
            ratio = contrast(seen, background)
            assert ratio >= 4.0, f"{group} text {fill} on {background}: contrast {ratio:.2f}"
            # light text on the dark page, dark text on the light one
            assert (luminance(seen) > luminance(background)) == dark, (group, fill, background)


def test_split_chart_reads_in_the_dark_and_the_light_theme(lab, themed_page, screenshots):
    page = themed_page
    open_notebook(page, lab.notebook_url(NOTEBOOK))
    set_theme(page, "JupyterLab Dark")
    assert page.evaluate("document.body.dataset.jpThemeLight") == "false"
    run_all_cells(page)
    assert error_outputs(page) == []
    check_readable(page, dark=True)
    panel = page.locator(".meshnb-load-balancing").first
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(screenshots / f"{NOTEBOOK.removesuffix('.ipynb')}-dark.png"))

    set_theme(page, "JupyterLab Light")  # switched with the charts on show, as a person would
    assert page.evaluate("document.body.dataset.jpThemeLight") == "true"
    check_readable(page, dark=False)
