"""Driving JupyterLab in the browser as a person would: open a notebook, run it, read what shows."""

from __future__ import annotations

from playwright.sync_api import Page

RUN_TIMEOUT_MS = 180_000


def open_notebook(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():  # as a person would: accept the notebook's own kernel
        dialog.get_by_role("button", name="Select").click()
    # ready when the notebook's kernel is connected and idle
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
            return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
        }""",
        polling=250,
        timeout=60_000,
    )


def run_all_cells(page: Page) -> None:
    """Run every cell (JupyterLab's own command) and wait until each code cell has an execution count."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        """() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            const all = [...Array(cells.length).keys()].map(i => cells.get(i));
            const code = all.filter(c => c.type === 'code');
            return code.length > 0 && code.every(c => c.executionCount);
        }""",
        polling=250,
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT_MS)


def error_outputs(page: Page) -> list[str]:
    """Error and stderr outputs of the open notebook (read from its model, not the DOM)."""
    return page.evaluate(
        """() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            const found = [];
            for (let i = 0; i < cells.length; i++) {
                const cell = cells.get(i);
                if (cell.type !== 'code') continue;
                for (const out of cell.outputs.toJSON()) {
                    if (out.output_type === 'error') found.push(`${out.ename}: ${out.evalue}`);
                    if (out.output_type === 'stream' && out.name === 'stderr') found.push(out.text);
                }
            }
            return found;
        }"""
    )
