"""The exported HTML report opens in a real browser with the network cut off, plots drawn."""

from __future__ import annotations

import meshnb
from meshnb.html_report import write_html


def test_the_report_renders_offline(page, tmp_path):
    path = write_html(
        meshnb.triage(meshnb.simulate("missing-remote-secret")), tmp_path / "report.html", full=True
    )
    requested = []

    def refuse(route):
        requested.append(route.request.url)
        route.abort()

    page.route("http*://**", refuse)  # no network: anything fetched from outside fails
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=15_000)
    assert page.locator(".plotly-graph-div").count() == 3  # split, sequence, endpoints
    assert page.locator(".plotly-graph-div .bars").count() >= 3
    assert "a remote secret is missing in cluster1" in page.inner_text("body")
    assert requested == [] and errors == []


def test_the_compact_page_has_no_horizontal_overflow(page, tmp_path):
    """The default page on a narrow window: wide tables scroll inside themselves, the page does not."""
    report = meshnb.triage(meshnb.simulate("trust-mismatch"))
    path = write_html(report, tmp_path / "report.html")
    page.set_viewport_size({"width": 700, "height": 900})
    page.goto(path.as_uri())
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    bars = page.locator(".split span")
    assert bars.count() == 4 and bars.first.bounding_box()["width"] > 0
    assert "the clusters do not share a root of trust" in page.inner_text("body")
