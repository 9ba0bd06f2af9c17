"""The exported HTML report opens in a real browser with the network cut off, plots drawn."""

from __future__ import annotations

import meshnb
from meshnb.html_report import write_html


def test_the_report_renders_offline(page, tmp_path):
    path = write_html(meshnb.triage(meshnb.simulate("missing-remote-secret")), tmp_path / "report.html")
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
