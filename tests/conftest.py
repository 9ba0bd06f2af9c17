"""Shared fixtures, and the markers of the slow tests (pyproject.toml registers them).

Reference data lives in ../shared/reference-data (real Envoy and istioctl output).

``pytest_collection_modifyitems`` marks, from what a test uses, so that
``pytest -m "not lab and not testbed and not browser"`` starts neither an Envoy, nor the test bed, nor
a browser (a deselected test never sets up the ``testbed`` session fixture):

- ``testbed``: a test that uses the ``testbed`` or ``testbed_bin`` fixture (directly or through another
  fixture), or whose
  backend parameter is ``"testbed"`` (``make_mesh[testbed]``, which asks for the fixture at run time);
- ``lab``: every test in ``LAB_MODULES``; a test whose backend parameter is ``"lab"``
  (``make_mesh[lab]``, ``voila[lab]``); a test or doctest whose code calls ``meshnb.lab(...)`` or
  passes ``"--lab"`` or ``backend="lab"`` (the command line, papermill);
- ``browser``: everything under tests/e2e (tests/e2e/conftest.py).
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference-data"

LAB_MODULES = {ROOT / "tests" / "test_lab.py"}  # every test in them starts real Envoys
BACKEND_MARKS = {"lab": "lab", "testbed": "testbed"}  # a parametrized backend's value -> its marker


@pytest.fixture(autouse=True)
def _loopback_only(request, monkeypatch):
    """Outside the test bed, meshnb's own HTTP (the credentials check trying a remote secret's server)
    connects only to this machine's loopback: the simulated mesh's secrets name private addresses
    (172.18.N.10) that a test must not send to. Anything else is refused, as a closed port refuses."""
    if request.node.get_closest_marker("testbed") is not None:
        return
    import ipaddress

    from urllib3.util import connection

    real = connection.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConnectionRefusedError(111, "Connection refused")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", guarded)


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE} (it is shared/ beside the project)")
    return REFERENCE


@pytest.fixture(scope="session")
def testbed_bin() -> Path:
    """The test bed's binaries (tests/testbed/build: built once into the cache)."""
    import subprocess

    build = subprocess.run(
        [str(ROOT / "tests" / "testbed" / "build")], capture_output=True, text=True, check=False
    )
    if build.returncode != 0:
        pytest.fail(f"tests/testbed/build failed:\n{build.stderr[-3000:]}")
    return Path(build.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def testbed(tmp_path_factory, testbed_bin):
    """Two real clusters (tests/testbed), started once per session."""
    from testbed.bed import Testbed

    bed = Testbed(tmp_path_factory.mktemp("testbed"))
    try:
        bed.up(testbed_bin, owner=os.getpid())
        yield bed
    finally:
        bed.down()


def _is_lab(node: ast.AST) -> bool:
    """Does this code start the lab: ``meshnb.lab(...)`` / ``lab(...)``, ``"--lab"`` (the command
    line), ``backend="lab"`` or ``{"backend": "lab"}`` (a notebook's parameter)?"""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "lab" or any(k.arg == "backend" and _is_str(k.value, "lab") for k in sub.keywords):
                return True
        if _is_str(sub, "--lab"):
            return True
        if isinstance(sub, ast.Dict) and any(
            _is_str(k, "backend") and _is_str(v, "lab") for k, v in zip(sub.keys, sub.values, strict=True)
        ):
            return True
    return False


def _is_str(node: ast.AST | None, value: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == value


def _code_starts_the_lab(item: pytest.Item) -> bool:
    if isinstance(item, pytest.DoctestItem):
        if item.dtest is None:
            return False
        sources = [example.source for example in item.dtest.examples]
    elif isinstance(item, pytest.Function):
        try:
            sources = [textwrap.dedent(inspect.getsource(item.function))]
        except (OSError, TypeError):
            return False
    else:
        return False
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        if _is_lab(tree):
            return True
    return False


def _marks(item: pytest.Item) -> set[str]:
    marks = set()
    if {"testbed", "testbed_bin"} & set(getattr(item, "fixturenames", ())):
        marks.add("testbed")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        values = [v for v in callspec.params.values() if isinstance(v, str)]
        marks |= {BACKEND_MARKS[v] for v in values if v in BACKEND_MARKS}
    if item.path in LAB_MODULES or _code_starts_the_lab(item):
        marks.add("lab")
    return marks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(_marks(item)):
            if item.get_closest_marker(name) is None:
                item.add_marker(name)
