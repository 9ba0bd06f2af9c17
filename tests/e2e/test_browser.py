"""Every notebook, opened and run in a real JupyterLab in Chromium, shows what a person expects.

For each notebook: open it, run all cells, see no error output, run each panel's check (panel_checks.py),
and save a screenshot (of the first panel, or of the page) to $MESHNB_SCREENSHOTS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_driver import error_outputs, open_notebook, run_all_cells
from panel_checks import PANEL_CHECKS, break_with_firewall, clipped
from playwright.sync_api import expect

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_in_jupyterlab(lab, page, screenshots, notebook):
    open_notebook(page, lab.notebook_url(notebook.name))
    run_all_cells(page)
    assert error_outputs(page) == []
    checked = 0
    for css_class, check in PANEL_CHECKS.items():
        for panel in page.locator(f".{css_class}").all():
            panel.scroll_into_view_if_needed()
            check(panel, page)
            assert clipped(panel) == [], f"cut off in {css_class}"
            checked += 1
    panels = page.locator(".meshnb-panel")
    assert checked == panels.count(), "a panel without a check in tests/e2e/panel_checks.py"
    target = panels.first if checked else page.locator(".jp-NotebookPanel").first
    target.scroll_into_view_if_needed()
    target.screenshot(path=str(screenshots / f"{notebook.stem}.png"))


def test_switching_the_simulated_scenario_shows_the_failure(lab, page):
    open_notebook(page, lab.notebook_url("01-cross-cluster-load-balancing.ipynb"))
    run_all_cells(page)
    panel = page.locator(".meshnb-load-balancing").first
    expect(panel).to_be_visible()
    panel.scroll_into_view_if_needed()
    break_with_firewall(panel, page)
