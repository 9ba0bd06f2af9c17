"""The stakeholder demo as Voila serves it: a page with no code; its controls move the chart."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from conftest import _free_port, serving
from panel_checks import TIMEOUT_MS, check_demo
from playwright.sync_api import expect


@pytest.fixture(scope="module", params=["sim", "lab"])
def voila(request, tmp_path_factory):
    """`meshnb demo --backend B` on a free loopback port, with its own Jupyter dirs; the page's URL."""
    base = tmp_path_factory.mktemp("voila")
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    argv = [
        sys.executable,
        "-m",
        "meshnb",
        "demo",
        "--backend",
        request.param,
        "--",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
    ]

    def ready() -> None:  # listening is enough: a GET of the page would start a kernel
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    with serving("voila", argv, cwd=base, env=env, log=base / "voila.log", ready=ready):
        yield f"http://127.0.0.1:{port}/"


def test_demo_page_has_no_code_and_its_controls_move_the_chart(voila, page, screenshots, request):
    page.goto(voila, timeout=TIMEOUT_MS)
    panel = page.locator(".meshnb-demo").first
    expect(panel).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("h1")).to_contain_text("Why Istio keeps traffic local")
    text = page.locator("body").inner_text()
    assert "import meshnb" not in text and "BalancingDemo(" not in text and "seed = 0" not in text
    assert (
        page.locator(".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .CodeMirror, .cm-editor").count() == 0
    )
    kind = (
        "the lab: real Envoy proxies"
        if request.node.callspec.params["voila"] == "lab"
        else "the simulated mesh"
    )
    expect(panel).to_contain_text(f"Traffic through {kind}")
    check_demo(panel, page)
    suffix = "" if request.node.callspec.params["voila"] == "sim" else "-lab"
    page.screenshot(path=str(screenshots / f"demo-cross-cluster-balancing-voila{suffix}.png"), full_page=True)
