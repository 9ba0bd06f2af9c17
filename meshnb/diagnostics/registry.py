"""The registry: every check of the guide, in the guide's order.

A new check joins by adding its module (with a ``CHECK_SPEC``, see :mod:`meshnb.diagnostics.check`)
to :data:`MODULES`; the command line, triage, :mod:`meshnb.panels` and ``meshnb``'s exports follow.

>>> list(CHECKS)  # doctest: +NORMALIZE_WHITESPACE
['load-balancing', 'connectivity', 'trust', 'sameness', 'endpoints', 'remote-secrets', 'credentials',
 'identity', 'ambient', 'locality']
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping

from meshnb.diagnostics.check import Check

__all__ = ["CHECKS", "MODULES", "Registry"]

#: The check modules, in the guide's order: does traffic cross? the network, trust, the service the
#: same in every cluster (the step-by-step diagnosis's first assumption), the control plane (what the
#: proxies hold, the remote secrets, their credentials tried, the clusters' identities, what ambient
#: clients need), locality.
MODULES = (
    "meshnb.diagnostics.load_balancing",
    "meshnb.diagnostics.connectivity",
    "meshnb.diagnostics.trust",
    "meshnb.diagnostics.sameness",
    "meshnb.diagnostics.endpoints",
    "meshnb.diagnostics.remote_secrets",
    "meshnb.diagnostics.credentials",
    "meshnb.diagnostics.identity",
    "meshnb.diagnostics.ambient",
    "meshnb.diagnostics.locality",
)


class Registry(Mapping[str, Check]):
    """Checks by name, in order. Immutable; :meth:`with_check` gives a new one with another check."""

    def __init__(self, checks: Iterable[Check]):
        self._checks: dict[str, Check] = {}
        for check in checks:
            if check.name in self._checks:
                raise ValueError(f"two checks are named {check.name!r}")
            missing = [need for need in check.needs if need not in self._checks]
            if missing:
                raise ValueError(f"check {check.name!r} needs {missing}, which must come before it")
            self._checks[check.name] = check

    def __getitem__(self, name: str) -> Check:
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)

    def __repr__(self) -> str:
        return f"Registry({list(self._checks)})"

    def with_check(self, check: Check) -> Registry:
        """A new registry with ``check`` added last.

        >>> toy = Check("toy", lambda mesh, progress=None: None, "a toy check")
        >>> list(CHECKS.with_check(toy))[-1], "toy" in CHECKS
        ('toy', False)
        """
        return Registry([*self._checks.values(), check])


def _load(modules: Iterable[str]) -> Registry:
    return Registry(importlib.import_module(module).CHECK_SPEC for module in modules)


#: Every check meshnb has.
CHECKS = _load(MODULES)
