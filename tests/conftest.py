"""Shared fixtures. Reference data lives in ../shared/reference-data (real Envoy and istioctl output)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference-data"


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE} (it is shared/ beside the project)")
    return REFERENCE


@pytest.fixture(scope="session")
def testbed(tmp_path_factory):
    """Two real clusters (tests/testbed): built once into the cache, started once per session."""
    import subprocess

    from testbed.bed import Testbed

    build = subprocess.run(
        [str(ROOT / "tests" / "testbed" / "build")], capture_output=True, text=True, check=False
    )
    if build.returncode != 0:
        pytest.fail(f"tests/testbed/build failed:\n{build.stderr[-3000:]}")
    bed = Testbed(tmp_path_factory.mktemp("testbed"))
    try:
        bed.up(Path(build.stdout.strip().splitlines()[-1]))
        yield bed
    finally:
        bed.down()
