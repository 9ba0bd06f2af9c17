"""Run one function against every cluster at once, with progress, keeping each cluster's failure apart.

>>> import meshnb
>>> mesh = meshnb.simulate(unreachable="cluster2")
>>> outcomes = per_cluster(mesh, lambda name, c, report: len(c.list_nodes()))
>>> outcomes["cluster1"], type(outcomes["cluster2"]).__name__
(2, 'Unreachable')
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from meshnb.backends.base import Cluster, Mesh
from meshnb.errors import ClusterError, MeshnbError

__all__ = ["Cancelled", "Progress", "describe", "error_row", "per_cluster", "reason_of"]

log = logging.getLogger("meshnb")

T = TypeVar("T")
#: progress(cluster, done, total): called on the caller's thread (safe for widgets).
Progress = Callable[[str, int, int], None]
Report = Callable[[int, int], None]


class Cancelled(BaseException):
    """Raised in a worker, at its next progress report, once the caller was interrupted.

    It is a BaseException, like KeyboardInterrupt, so that no ``except Exception`` in a check swallows
    it.
    """


class _Failed:
    """A worker's unexpected exception (a bug), carried to the caller's thread to be raised there."""

    def __init__(self, error: BaseException):
        self.error = error


def per_cluster(
    mesh: Mesh,
    work: Callable[[str, Cluster, Report], T],
    progress: Progress | None = None,
    max_workers: int | None = None,
) -> dict[str, T | MeshnbError]:
    """``work(name, cluster, report)`` for every cluster in parallel threads.

    Returns, by cluster name, the result or the :class:`MeshnbError` that cluster raised, so one
    failing cluster never hides the others. Other exceptions (bugs) propagate. ``report(done,
    total)`` from a worker reaches ``progress`` on the calling thread.

    An interruption of the caller (Ctrl-C, or any exception while it waits) returns at once: each
    worker stops at its next ``report`` with :class:`Cancelled`, and the workers, daemon threads, are
    not waited for (one blocked on a dead API server cannot hold the caller).
    """
    cancel = threading.Event()
    names = list(mesh.clusters)
    events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    slots = threading.Semaphore(max_workers or max(1, len(names)))

    def run(name: str) -> None:
        def report(done: int, total: int) -> None:
            if cancel.is_set():
                raise Cancelled
            events.put(("progress", name, (done, total)))

        outcome: Any = None
        with slots:
            try:
                if cancel.is_set():
                    raise Cancelled
                outcome = work(name, mesh.clusters[name], report)
            except MeshnbError as exc:
                log.warning("%s", exc, extra={"cluster_error": exc})
                outcome = exc
            except Cancelled:
                return
            except BaseException as exc:  # handed to the caller's thread
                outcome = _Failed(exc)
        events.put(("done", name, outcome))

    results: dict[str, Any] = {}
    try:
        for name in names:
            threading.Thread(target=run, args=(name,), name=f"meshnb-{name}", daemon=True).start()
        while len(results) < len(names):
            try:
                kind, name, value = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "progress":
                if progress:
                    progress(name, *value)
            elif isinstance(value, _Failed):
                raise value.error
            else:
                results[name] = value
    except BaseException:
        cancel.set()
        raise
    return {name: results[name] for name in names}


def describe(error: MeshnbError) -> str:
    """An error without its cluster name, for a table row that already names the cluster.

    >>> from meshnb.errors import Forbidden
    >>> describe(Forbidden("cluster1", "cannot list secrets"))
    'forbidden: cannot list secrets'
    """
    return f"{error.reason}: {error.detail}" if isinstance(error, ClusterError) else str(error)


def reason_of(error: MeshnbError) -> str:
    """The ``reason`` word of a cluster that could not be read (see :data:`meshnb.schemas.REASONS`).

    >>> from meshnb.errors import NotFound
    >>> reason_of(NotFound("cluster1", "no pod")), reason_of(MeshnbError("?"))
    ('not-found', 'error')
    """
    return error.reason.replace(" ", "-") if isinstance(error, ClusterError) else "error"


def error_row(cluster: str, error: MeshnbError, **blank: Any) -> dict[str, Any]:
    """A check's verdict row for a cluster that could not be read: ``error``, its reason and message.

    ``blank`` gives the check's other columns their empty values.

    >>> from meshnb.errors import Unreachable
    >>> error_row("c2", Unreachable("c2", "connection refused"), secrets=0)["reason"]
    'unreachable'
    """
    return {
        "cluster": cluster,
        "status": "error",
        "reason": reason_of(error),
        **blank,
        "detail": describe(error),
    }
