"""The public surface of the package and its import cost."""

from __future__ import annotations

import subprocess
import sys

import meshnb


def test_public_api():
    assert meshnb.__all__ == [
        "SCENARIOS",
        "ClusterError",
        "ConfigError",
        "Finding",
        "InvalidName",
        "MeshnbError",
        "ParseError",
        "Report",
        "__version__",
        "check_connectivity",
        "check_endpoints",
        "check_load_balancing",
        "check_locality",
        "check_remote_secrets",
        "check_trust",
        "connect",
        "diff",
        "lab",
        "load",
        "open_mesh",
        "read_certs",
        "read_curl",
        "read_endpoints",
        "read_istiod_log",
        "simulate",
        "triage",
    ]
    for name in meshnb.__all__:
        assert getattr(meshnb, name) is not None


def test_import_loads_no_heavy_library():
    code = (
        "import sys, meshnb, meshnb.diagnostics.load_balancing, meshnb.backends.kube, meshnb.backends.sim;"
        "print(sorted(m for m in ('pandas', 'plotly', 'kubernetes', 'ipywidgets', 'numpy', 'cryptography')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_shell_strings_or_global_kube_config_in_the_package():
    from pathlib import Path

    for path in Path(meshnb.__file__).parent.rglob("*.py"):
        text = path.read_text()
        assert "shell=True" not in text, path
        assert "load_kube_config(" not in text, path
        assert '"sh", "-c"' not in text, path
