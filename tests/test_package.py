"""The public surface of the package and its import cost."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import meshnb

#: What ``import meshnb`` offers besides one ``check_*`` function per registered check.
PUBLIC = [
    "ClusterError",
    "ConfigError",
    "Finding",
    "InvalidName",
    "MeshnbError",
    "ParseError",
    "Report",
    "SCENARIOS",
    "__version__",
    "connect",
    "diff",
    "lab",
    "load",
    "open_mesh",
    "read_any",
    "read_certs",
    "read_clusterz",
    "read_curl",
    "read_endpoint_shards",
    "read_endpoints",
    "read_istiod_log",
    "read_networkz",
    "read_proxy_status",
    "read_remote_clusters",
    "read_syncz",
    "read_ambientz",
    "read_ztunnel",
    "simulate",
    "triage",
]


def test_all_is_the_public_names():
    from meshnb.diagnostics.registry import CHECKS

    checks = [check.export for check in CHECKS.values()]
    assert checks == [
        "check_load_balancing",
        "check_connectivity",
        "check_trust",
        "check_sameness",
        "check_endpoints",
        "check_remote_secrets",
        "check_credentials",
        "check_identity",
        "check_ambient",
        "check_locality",
    ]
    assert meshnb.__all__ == sorted(PUBLIC + checks)
    assert set(meshnb.__all__) <= set(dir(meshnb))
    for name in meshnb.__all__:
        assert getattr(meshnb, name) is not None
    for check in CHECKS.values():  # the exported function is the registered one, under its own name
        assert getattr(meshnb, check.export) is check.function
        assert check.function.__name__ == check.export
    assert meshnb.__version__ == importlib.metadata.version("meshnb")


def test_every_module_all_names_what_it_defines():
    """Each module's ``__all__`` lists names it defines or imports, sorted, without repeats."""
    for path in sorted(Path(meshnb.__file__).parent.rglob("*.py")):
        name = ".".join(path.relative_to(Path(meshnb.__file__).parents[1]).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        names = getattr(module, "__all__", None)
        if names is None:
            continue
        assert len(set(names)) == len(names), name
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ names {missing}, which it does not define"


def test_import_loads_no_heavy_library():
    code = (
        "import sys, meshnb, meshnb.diagnostics.load_balancing, meshnb.backends.kube, meshnb.backends.sim;"
        "print(sorted(m for m in ('pandas', 'plotly', 'kubernetes', 'ipywidgets', 'numpy', 'cryptography')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_shell_strings_or_global_kube_config_in_the_package():
    for path in Path(meshnb.__file__).parent.rglob("*.py"):
        text = path.read_text()
        assert "shell=True" not in text, path
        assert "load_kube_config(" not in text, path
        assert '"sh", "-c"' not in text, path


def test_every_reader_is_exported_with_an_example():
    from meshnb import readers

    assert readers.__all__ == sorted(name for name in meshnb.__all__ if name.startswith("read_"))
    for name in readers.__all__:
        function = getattr(meshnb, name)
        assert function is getattr(readers, name)
        assert ">>>" in (function.__doc__ or ""), f"{name} has no example (a doctest)"
