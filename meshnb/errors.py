"""meshnb's exceptions, one tree, mapped from backend errors at the boundary.

::

    MeshnbError
    ├── ConfigError          bad kubeconfig, unknown context, bad scenario or knob
    ├── InvalidName          a Kubernetes name or label selector that is not valid
    ├── ParseError           output that could not be parsed (carries the line)
    └── ClusterError         a call to one cluster failed (carries the cluster name)
        ├── Unreachable      connection refused, DNS failure, TLS failure to the API server
        ├── ClusterTimeout   the call did not finish within its timeout
        ├── Unauthorized     401: credentials missing, expired or rejected
        ├── Forbidden        403: RBAC denies the verb on the resource
        ├── NotFound         404: namespace, pod, secret ... does not exist
        └── ExecError        a command in a pod could not be run (not a non-zero exit)

Example:
    >>> try:
    ...     raise Forbidden("cluster1", "cannot get secrets in namespace istio-system")
    ... except ClusterError as err:
    ...     (err.cluster, str(err))
    ('cluster1', 'cluster1: forbidden: cannot get secrets in namespace istio-system')
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ClusterTimeout",
    "ConfigError",
    "ExecError",
    "Forbidden",
    "InvalidName",
    "MeshnbError",
    "NotFound",
    "ParseError",
    "Unauthorized",
    "Unreachable",
]


class MeshnbError(Exception):
    """Base of every error meshnb raises on purpose."""


class ConfigError(MeshnbError):
    """The configuration given to meshnb is wrong (kubeconfig, context, scenario, knob)."""


class InvalidName(MeshnbError, ValueError):
    """A name or label selector that Kubernetes would not accept."""


class ParseError(MeshnbError, ValueError):
    """Text that could not be parsed; ``line`` and ``lineno`` say where."""

    def __init__(self, message: str, line: str | None = None, lineno: int | None = None):
        self.line = line
        self.lineno = lineno
        where = f" (line {lineno}: {line[:200]!r})" if line is not None and lineno is not None else ""
        super().__init__(message + where)


class ClusterError(MeshnbError):
    """A call to one cluster failed. ``cluster`` names it; ``reason`` is a short machine word."""

    reason = "error"

    def __init__(self, cluster: str, detail: str, *, status: int | None = None):
        self.cluster = cluster
        self.detail = detail
        self.status = status
        super().__init__(f"{cluster}: {self.reason}: {detail}")


class Unreachable(ClusterError):
    """The cluster's API server could not be reached (connection refused, DNS, TLS)."""

    reason = "unreachable"


class ClusterTimeout(ClusterError):
    """The cluster did not answer in time (a connect or read timeout, HTTP 408 or 504)."""

    reason = "timeout"


class Unauthorized(ClusterError):
    """The API server rejected the credentials (HTTP 401)."""

    reason = "unauthorized"


class Forbidden(ClusterError):
    """The API server denied the call to these credentials (HTTP 403)."""

    reason = "forbidden"


class NotFound(ClusterError):
    """The object (or the namespace it is asked in) does not exist (HTTP 404)."""

    reason = "not found"


class ExecError(ClusterError):
    """A command in a pod could not be run, or exited non-zero where its exit code was checked."""

    reason = "exec failed"
