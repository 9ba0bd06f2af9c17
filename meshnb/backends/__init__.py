"""Backends: the Mesh/Cluster contract and its implementations (kube, sim)."""

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
    "DEFAULT_TIMEOUT",
    "Cluster",
    "ExecResult",
    "Mesh",
    "Node",
    "Pod",
    "Secret",
    "SecretData",
    "Service",
]
