"""Pointing the triage notebook at real API servers in the browser, as a person would: no code typed.

Two API servers (tests/fakeapi.py, real HTTP, serving a healthy simulated mesh's clusters) listen in
this process; the notebook's kernel reaches them through a kubeconfig whose path is typed into the
**Mesh** control.
"""

from __future__ import annotations

import pytest
from fakeapi import FakeApiServer, write_kubeconfig
from lab_driver import error_outputs, open_notebook, run_all_cells
from playwright.sync_api import expect

import meshnb

TIMEOUT_MS = 60_000


@pytest.fixture
def kubeconfig(tmp_path):
    sim = meshnb.simulate()
    with (
        FakeApiServer(sim.clusters["cluster1"], git_version="v1.31.0-east") as east,
        FakeApiServer(sim.clusters["cluster2"], git_version="v1.31.0-west") as west,
    ):
        yield write_kubeconfig(tmp_path / "config", {"kind-east": east, "kind-west": west})


def test_contexts_picked_named_and_connected_in_the_browser(lab, page, screenshots, kubeconfig):
    open_notebook(page, lab.notebook_url("00-triage.ipynb"))
    run_all_cells(page)
    assert error_outputs(page) == []
    picker = page.locator(".meshnb-mesh-picker").first
    triage = page.locator(".meshnb-triage").first
    expect(triage.locator(".meshnb-status-line").first).to_contain_text("FAIL")  # the simulated scenario
    picker.scroll_into_view_if_needed()

    picker.get_by_role("button", name="Real clusters (kubeconfig)").click()
    path = picker.locator("input[type=text]").first
    path.fill(str(kubeconfig))
    picker.get_by_role("button", name="Read contexts").click()
    expect(picker.locator(".meshnb-picker-message")).to_contain_text("2 context(s)", timeout=TIMEOUT_MS)
    picker.locator("select[multiple]").select_option(["kind-east", "kind-west"])
    names = picker.locator(".widget-text", has_text="kind-")
    expect(names).to_have_count(2, timeout=TIMEOUT_MS)
    for label, name in (("kind-east", "cluster1"), ("kind-west", "cluster2")):
        field = picker.locator(".widget-text", has_text=label).locator("input")
        field.fill(name)
        field.press("Enter")
    picker.get_by_role("button", name="Connect").click()
    message = picker.locator(".meshnb-picker-message")
    expect(message).to_contain_text(
        "cluster1 (context kind-east): ✔ API server v1.31.0-east", timeout=TIMEOUT_MS
    )
    expect(message).to_contain_text("cluster2 (context kind-west): ✔ API server v1.31.0-west")
    expect(triage.locator(".meshnb-stale-banner")).to_contain_text("changed (the mesh): press Run")

    triage.get_by_role("button", name="Run triage").click()
    # the simulated secrets name servers that exist nowhere (172.18.N.10): what answers the credentials
    # check from this kernel depends on the machine's network, so its line is only asked to be there
    rows = triage.locator(".meshnb-check-row")
    expect(rows.filter(has_text="credentials").first).to_contain_text("credentials:", timeout=TIMEOUT_MS)
    for name in ("load-balancing", "trust", "endpoints", "remote-secrets", "identity", "sameness"):
        expect(rows.filter(has_text=f"{name}:").first).to_contain_text("PASS")
    expect(triage.locator(".meshnb-stale-banner")).to_have_text("")
    bars = triage.locator(".widget-hprogress .widget-label").all_text_contents()
    assert bars == ["cluster1", "cluster2"], bars
    # nothing of the picker is cut off at this width
    clipped = picker.evaluate(
        """el => [...el.querySelectorAll('.widget-label, select, button, .meshnb-picker-message')]
                 .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
                 .map(e => e.textContent.trim().slice(0, 40))"""
    )
    assert clipped == [], clipped
    picker.screenshot(path=str(screenshots / "mesh-picker.png"))
