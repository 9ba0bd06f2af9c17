"""The notebook panels: one per check of the registry (Istio's multicluster guide), and the others.

A check's panel is the custom class its declaration names, or one made from its options and tables.

>>> from meshnb.panels import LoadBalancingPanel, RemoteSecretsPanel, ScenarioPicker
>>> LoadBalancingPanel.check.name
'load-balancing'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from meshnb.diagnostics.registry import CHECKS

# the panels that are not a check's: name -> module
_OTHERS = {
    "BalancingDemo": "meshnb.widgets.demo",
    "MeshPicker": "meshnb.widgets.mesh_picker",
    "PasteBox": "meshnb.widgets.paste",
    "ScenarioPicker": "meshnb.widgets.simulator",
    "TriagePanel": "meshnb.widgets.triage",
}


def panel_names(checks: Mapping[str, Any] = CHECKS) -> list[str]:
    """Every panel's name: one per check, and the others (sorted)."""
    return sorted([*(check.panel_name for check in checks.values()), *_OTHERS])


def panel(name: str, checks: Mapping[str, Any] = CHECKS) -> type:
    """The panel class called ``name`` (``LoadBalancingPanel``, ``TriagePanel`` ...)."""
    if name in _OTHERS:
        return getattr(importlib.import_module(_OTHERS[name]), name)
    for check in checks.values():
        if check.panel_name == name:
            if check.panel is None:
                from meshnb.widgets.check_panel import panel_class

                return panel_class(check)
            module, _, cls = check.panel.partition(":")
            return getattr(importlib.import_module(module), cls)
    raise AttributeError(f"module 'meshnb.panels' has no attribute {name!r}")


__all__ = panel_names()  # noqa: PLE0605 (built from the registry)


def __getattr__(name: str) -> type:
    value = panel(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
