"""Backends: the Mesh/Cluster contract and its implementations (kube, sim, lab).

>>> open_mesh("sim", scenario="firewall").knobs.firewall
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from meshnb.backends.base import (
    DEFAULT_TIMEOUT,
    Cluster,
    ExecResult,
    Mesh,
    Node,
    Pod,
    Secret,
    SecretData,
    Service,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_TIMEOUT",
    "Cluster",
    "ExecResult",
    "Mesh",
    "Node",
    "Pod",
    "Secret",
    "SecretData",
    "Service",
    "open_mesh",
]

#: What a notebook's ``backend`` parameter may say.
BACKENDS = ("sim", "lab", "kube")


def open_mesh(
    backend: str = "sim",
    *,
    scenario: str = "healthy",
    seed: int = 0,
    contexts: Sequence[str] | Mapping[str, str] | None = None,
    kubeconfig: str | None = None,
    timeout: float | None = None,
) -> Mesh:
    """The mesh a notebook works on, simulated, in the lab, or real.

    The ``backend`` is ``sim`` (the simulated mesh) or ``lab`` (real Envoys on this machine, see
    :func:`meshnb.lab`) with ``scenario`` and ``seed``, or ``kube`` (real clusters by kubeconfig
    ``contexts``; ``timeout`` bounds each API call). Contexts given with the default backend mean
    ``kube``.
    """
    from meshnb.errors import ConfigError

    if contexts is not None and backend == "sim":
        backend = "kube"
    if backend == "sim":
        from meshnb.backends.sim import simulate

        return simulate(scenario, seed=seed)
    if backend == "lab":
        from meshnb.backends.lab import lab

        return lab(scenario, seed=seed)
    if backend == "kube":
        if not contexts:
            raise ConfigError("backend 'kube' needs kubeconfig contexts, e.g. contexts=['ctx-a', 'ctx-b']")
        from meshnb.backends.kube import connect

        if timeout is None:
            return connect(contexts, kubeconfig=kubeconfig)
        return connect(contexts, kubeconfig=kubeconfig, timeout=timeout)
    raise ConfigError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
