"""A real JupyterLab and Debian's Chromium (through Playwright) for the browser suite.

JupyterLab starts once per session on a free loopback port, with fresh settings, workspace, config
and runtime directories, rooted at a temporary copy of notebooks/ (running cells must not rewrite the
project's notebooks). Chromium is /usr/bin/chromium (or $MESHNB_CHROMIUM); Playwright never downloads a
browser here. Every test here is marked ``browser`` (``pytest -m "not browser"`` leaves them out).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("MESHNB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(os.environ.get("MESHNB_SCREENSHOTS", ROOT / ".test-artifacts" / "screenshots"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e drives Chromium (or is a page Chromium renders): ``browser``."""
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("browser") is None:
            item.add_marker("browser")


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/notebooks/{name}?reset&token={self.token}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_settings(settings: Path) -> None:
    """No news or update pop-ups over the page; every cell in the DOM (no windowing), so panels
    further down a notebook can be found and clicked."""
    for plugin, values in {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    }.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def serving(
    name: str, argv: list[str], *, cwd: Path, env: dict[str, str], log: Path, ready: Callable[[], object]
) -> Iterator[subprocess.Popen]:
    """Start a server process (output to ``log``), wait up to 60 s until ``ready()`` stops raising
    OSError, and stop the server (SIGKILL after 20 s) when the block ends."""
    with log.open("w") as out:
        server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    pytest.fail(f"{name} exited: {log.read_text()[-2000:]}")
                try:
                    ready()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{name} did not answer within 60 s: {log.read_text()[-2000:]}")
                    time.sleep(0.3)
            yield server
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    env = {**os.environ}
    for name in ("settings", "workspaces", "config", "runtime"):
        (base / name).mkdir()
    env |= {
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    _test_settings(base / "settings")
    port, token = _free_port(), "meshnb-e2e"
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")

    def ready() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
            pass

    with serving("JupyterLab", argv, cwd=root, env=env, log=base / "jupyterlab.log", ready=ready):
        yield Lab(url=f"http://127.0.0.1:{port}", token=token, root=root)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium) "
            "or set MESHNB_CHROMIUM; tests/run does this for you"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
