"""What a person checks on each meshnb panel, in the browser. One function per panel CSS class.

A new panel joins by adding ``"meshnb-<name>": check_<name>`` to PANEL_CHECKS: the browser suite then
runs that check on every instance of the panel in every notebook.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from meshnb.diagnostics.registry import CHECKS

TIMEOUT_MS = 60_000


def _show_tab(panel: Locator, title: str) -> None:
    panel.locator(".lm-TabBar-tab", has_text=title).first.click()


def _table(panel: Locator) -> Locator:
    """The DataFrame table of the tab on show."""
    return panel.locator("table.dataframe >> visible=true").first


def _run_and_expect(panel: Locator, status: str) -> None:
    button = panel.locator("button", has_text="Run").first
    expect(button).to_be_enabled(timeout=TIMEOUT_MS)
    button.click()
    expect(panel.locator(".meshnb-status-line").first).to_contain_text(status, timeout=TIMEOUT_MS)
    expect(button).to_be_enabled(timeout=TIMEOUT_MS)


# Labels, buttons, dropdowns and HTML lines on show whose text is wider than their box: cut off.
_CLIPPED_JS = """el => [...el.querySelectorAll(
        '.widget-label, .widget-label-basic, label, button, select, .widget-html-content, .widget-dropdown')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.trim().slice(0, 60))"""


def clipped(panel: Locator) -> list[str]:
    """The texts of ``panel`` cut off at this width (none should be)."""
    return panel.evaluate(_CLIPPED_JS)


def copy_a_command(where: Locator, page: Page, wanted: str) -> None:
    """The Copy button of the command shown in ``where`` that holds ``wanted`` puts the whole command
    on the clipboard, as the page shows it (the context's own names filled in)."""
    command = where.locator(".meshnb-command", has_text=wanted).first
    expect(command).to_be_visible()
    shown = command.locator("code").inner_text()
    button = command.locator("button.meshnb-copy")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == shown, shown
    assert "<" not in shown and wanted in shown, shown


def check_load_balancing(panel: Locator, page: Page) -> None:
    """Run, see PASS, the split chart (a bar trace per version), the samples table; then break the mesh."""
    for label in ("Service", "Namespace", "Port", "Path", "Requests per cluster"):
        expect(panel.locator(".widget-label", has_text=label).first).to_be_visible()
    _run_and_expect(panel, "PASS")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("cross-cluster load balancing works")

    _show_tab(panel, "Split")
    chart = panel.locator(".js-plotly-plot").first
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(chart.locator(".barlayer .trace")).to_have_count(2)
    legend = chart.locator(".legendtext").evaluate_all("texts => texts.map(t => t.textContent)")
    assert "v1 (cluster1)" in legend and "v2 (cluster2)" in legend, legend

    _show_tab(panel, "Samples")
    table = _table(panel)
    expect(table).to_be_visible()
    expect(table.locator("th", has_text="source_cluster").first).to_be_visible()
    expect(table).to_contain_text("helloworld-v")

    _show_tab(panel, "Split")  # leave the chart in view for the screenshot


def break_with_firewall(panel: Locator, page: Page) -> None:
    """Switch the simulated scenario to firewall, run again, and see the panel report the failure."""
    picker = page.locator(".meshnb-scenario-picker select").first
    picker.select_option("firewall")
    _run_and_expect(panel, "FAIL")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("reach only their own version")
    picker.select_option("healthy")
    _run_and_expect(panel, "PASS")


def check_remote_secrets(panel: Locator, page: Page) -> None:
    """Run on the notebook's scenario (a wrong data key): FAIL naming it, the secrets and istiod tables."""
    expect(panel.locator(".widget-label", has_text="Istio namespace").first).to_be_visible()
    _run_and_expect(panel, "FAIL")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("data key 'kubeconfig'")
    _show_tab(panel, "Summary")
    copy_a_command(panel, page, "istioctl --context=cluster2 create-remote-secret --name=cluster2")
    _show_tab(panel, "Remote secrets")
    table = _table(panel)
    expect(table.locator("th", has_text="data_key").first).to_be_visible()
    expect(table).to_contain_text("istio-remote-secret-cluster2")
    _show_tab(panel, "istiod events")  # istiod adds a cluster named after the wrong key, as real istiod
    expect(_table(panel)).to_contain_text("kubeconfig")
    _show_tab(panel, "Clusters")


def check_endpoints(panel: Locator, page: Page) -> None:
    """Run on the notebook's scenario (no remote secret): FAIL with the guide's conclusion, the endpoints."""
    expect(panel.locator(".widget-label", has_text="Service").first).to_be_visible()
    _run_and_expect(panel, "FAIL")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("holds only local endpoints")
    _show_tab(panel, "Endpoints")
    table = _table(panel)
    expect(table.locator("th", has_text="dest_cluster").first).to_be_visible()
    expect(table).to_contain_text("15443")
    _show_tab(panel, "Clusters")


def check_trust(panel: Locator, page: Page) -> None:
    """Run on the notebook's scenario (different roots): FAIL saying so, the matrix and the certificates."""
    expect(panel.locator(".widget-label", has_text="Secret").first).to_be_visible()
    _run_and_expect(panel, "FAIL")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("different roots")
    _show_tab(panel, "Trust matrix")
    expect(_table(panel).locator("th", has_text="presented_by").first).to_be_visible()
    _show_tab(panel, "Certificates")
    table = _table(panel)
    expect(table).to_contain_text("Root CA")
    assert "PRIVATE" not in table.inner_text()
    _show_tab(panel, "Clusters")


def check_locality(panel: Locator, page: Page) -> None:
    """Run on the notebook's scenario (prefer local): WARN, by design; the settings and priorities."""
    expect(panel.locator(".widget-label", has_text="Namespace").first).to_be_visible()
    _run_and_expect(panel, "WARN")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("by design in")
    _show_tab(panel, "Settings")
    expect(_table(panel)).to_contain_text("DestinationRule")
    _show_tab(panel, "Priorities")
    expect(_table(panel).locator("th", has_text="priority").first).to_be_visible()
    _show_tab(panel, "Clusters")


def check_connectivity(panel: Locator, page: Page) -> None:
    """The plan until changes are allowed; then, with the firewall scenario, FAIL: outside Istio."""
    allow = panel.get_by_label("Allow changes (create, probe, delete)")
    expect(allow).not_to_be_checked()
    _run_and_expect(panel, "SKIPPED")
    _show_tab(panel, "Plan")
    expect(_table(panel)).to_contain_text("uninjected-sample")
    allow.check()
    _run_and_expect(panel, "FAIL")
    expect(panel.locator(".meshnb-status-line").first).to_contain_text("outside Istio")
    _show_tab(panel, "Probes")
    expect(_table(panel)).to_contain_text("timeout")
    _show_tab(panel, "Cleanup")
    expect(_table(panel)).to_contain_text("deleted")
    _show_tab(panel, "Probes")


def check_triage(panel: Locator, page: Page) -> None:
    """Run: a light per check, the diagnosis naming the missing secret, a tab per check with its plot,
    then save a snapshot and export the report."""
    _run_and_expect(panel, "FAIL")
    lights = panel.locator(".meshnb-triage-light")
    expect(lights).to_have_count(len(CHECKS))
    expect(lights.filter(has_text="remote-secrets").first).to_contain_text("FAIL")
    expect(lights.filter(has_text="trust").first).to_contain_text("PASS")
    diagnosis = panel.locator(".meshnb-diagnosis").first
    expect(diagnosis).to_contain_text("a remote secret is missing in cluster1")
    copy_a_command(diagnosis, page, "create-remote-secret --name=cluster2 | kubectl --context=cluster1 apply")
    _show_tab(panel, "endpoints")
    chart = panel.locator(".js-plotly-plot >> visible=true").first
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    panel.locator("button", has_text="Save snapshot").first.click()
    expect(panel).to_contain_text("snapshot written to", timeout=TIMEOUT_MS)
    panel.locator("button", has_text="Export report").first.click()
    expect(panel).to_contain_text("report written to", timeout=TIMEOUT_MS)


def _bars(chart: Locator) -> dict[str, list[float]]:
    """The demo chart's stacked bars as drawn, by version: [cluster1 observed, cluster1 expected, ...]."""
    bars = "el.data.filter(t => t.orientation === 'h')"
    return chart.evaluate(
        f"el => Object.fromEntries({bars}.map(t => [t.name.split(' ')[0], Array.from(t.x)]))"
    )


def check_demo(panel: Locator, page: Page) -> None:
    """Send traffic: the chart fills; choose locality 'prefer own zone': the expected bar moves at once and
    the observed one follows (cluster1 answered only by v1); pause."""
    chart = panel.locator(".js-plotly-plot").first
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    assert _bars(chart)["v1"][:2] == [0, 0.5], _bars(chart)  # nothing seen yet; half expected
    panel.locator(".meshnb-demo-run").first.click()
    expect(panel.locator(".meshnb-demo-headline")).to_contain_text(
        re.compile(r"of \d+ requests"), timeout=TIMEOUT_MS
    )
    page.wait_for_function("el => el.data[0].x[0] > 0", arg=chart.element_handle(), timeout=TIMEOUT_MS)
    panel.locator(".widget-dropdown", has_text="Locality").locator("select").select_option(
        label="Prefer own zone, fail over"
    )
    page.wait_for_function(
        "el => el.data[0].x[1] === 1 && el.data[0].x[0] === 1 && el.data[1].x[0] === 0",
        arg=chart.element_handle(),
        timeout=TIMEOUT_MS,
    )
    expect(panel.locator(".meshnb-demo-headline")).to_contain_text("From cluster1: expected 100% v1")
    expect(panel.locator(".meshnb-demo-why")).to_contain_text("own zone (us-east/us-east-1a) first")
    panel.locator(".meshnb-demo-run").first.click()
    expect(panel.locator(".meshnb-status-line").first).to_contain_text(
        "Paused after batch", timeout=TIMEOUT_MS
    )


# the guide's own `istioctl proxy-config endpoint ... | grep helloworld` output (tests/data/real/istioctl)
GUIDE_ROW = "10.0.0.11:5000   HEALTHY   OK   outbound|5000||helloworld.sample.svc.cluster.local"


def check_paste(panel: Locator, page: Page) -> None:
    """Paste the guide's endpoint row: its rows; paste garbage: the reader's refusal, naming the line."""
    status = panel.locator(".meshnb-status-line").first
    text = panel.locator("textarea").first
    read = panel.locator("button", has_text="Read").first
    panel.locator(".widget-dropdown select").first.select_option(label="detect the kind")
    text.fill(GUIDE_ROW)
    read.click()
    expect(status).to_contain_text("endpoints", timeout=TIMEOUT_MS)
    expect(status).to_contain_text("1 row")
    expect(_table(panel)).to_contain_text("outbound|5000||helloworld.sample.svc.cluster.local")
    text.fill("these are not the lines you are looking for")
    read.click()
    expect(status).to_contain_text("ERROR", timeout=TIMEOUT_MS)
    expect(status).to_contain_text("line 1")
    expect(panel.locator("table.dataframe")).to_have_count(0)


PANEL_CHECKS: dict[str, Callable[[Locator, Page], None]] = {
    "meshnb-paste": check_paste,
    "meshnb-demo": check_demo,
    "meshnb-triage": check_triage,
    "meshnb-connectivity": check_connectivity,
    "meshnb-locality": check_locality,
    "meshnb-trust": check_trust,
    "meshnb-endpoints": check_endpoints,
    "meshnb-load-balancing": check_load_balancing,
    "meshnb-remote-secrets": check_remote_secrets,
}
