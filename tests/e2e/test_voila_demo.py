"""The stakeholder demo as Voila serves it: a page with no code; its controls move the chart."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

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


def _kernels(server_pid: int) -> list[int]:
    """The kernel processes Voila started (children of its process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if parent == server_pid and b"ipykernel_launcher" in command:
                found.append(int(entry.name))
    return found


def test_closing_the_demo_page_stops_its_traffic_and_its_kernel_ends(page, tmp_path):
    """The page's Viewer stops beating, the demo stops its traffic, and its kernel, idle with no page
    connected, is culled (here after 3 s; `meshnb demo` says 120 s)."""
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
    }
    argv = [
        sys.executable, "-m", "meshnb", "demo", "--", "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", "--MappingKernelManager.cull_idle_timeout=3",
        "--MappingKernelManager.cull_interval=1",
    ]  # fmt: skip

    def ready() -> None:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    log = tmp_path / "voila.log"
    with serving("voila", argv, cwd=tmp_path, env=env, log=log, ready=ready) as server:
        page.goto(f"http://127.0.0.1:{port}/", timeout=TIMEOUT_MS)
        panel = page.locator(".meshnb-demo").first
        expect(panel).to_be_visible(timeout=TIMEOUT_MS)
        panel.locator(".meshnb-demo-run").first.click()
        expect(panel.locator(".meshnb-status-line").first).to_contain_text("batch", timeout=TIMEOUT_MS)
        assert len(_kernels(server.pid)) == 1
        page.close()
        deadline = time.monotonic() + 60  # the demo's 10 s without a page, then 3 s idle, 1 s interval
        while _kernels(server.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _kernels(server.pid) == [], log.read_text()[-3000:]
        assert "Culling" in log.read_text()
