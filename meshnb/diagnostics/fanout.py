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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from meshnb.backends.base import Cluster, Mesh
from meshnb.errors import ClusterError, MeshnbError

__all__ = ["Progress", "describe", "per_cluster"]

log = logging.getLogger("meshnb")

T = TypeVar("T")
#: progress(cluster, done, total): called on the caller's thread (safe for widgets).
Progress = Callable[[str, int, int], None]
Report = Callable[[int, int], None]


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
    """
    events: queue.Queue[tuple[str, int, int]] = queue.Queue()
    names = list(mesh.clusters)

    def run(name: str) -> Any:
        try:
            return work(name, mesh.clusters[name], lambda done, total: events.put((name, done, total)))
        except MeshnbError as exc:
            log.warning("%s", exc)
            return exc

    results: dict[str, Any] = {}
    with ThreadPoolExecutor(
        max_workers=max_workers or max(1, len(names)), thread_name_prefix="meshnb"
    ) as pool:
        futures = {name: pool.submit(run, name) for name in names}
        pending = set(names)
        while pending:
            try:
                name, done, total = events.get(timeout=0.05)
                if progress:
                    progress(name, done, total)
            except queue.Empty:
                pass
            for name in [n for n in pending if futures[n].done()]:
                pending.discard(name)
                results[name] = futures[name].result()
        while not events.empty():
            name, done, total = events.get_nowait()
            if progress:
                progress(name, done, total)
    return {name: results[name] for name in names}


def describe(error: MeshnbError) -> str:
    """An error without its cluster name, for a table row that already names the cluster.

    >>> from meshnb.errors import Forbidden
    >>> describe(Forbidden("cluster1", "cannot list secrets"))
    'forbidden: cannot list secrets'
    """
    return f"{error.reason}: {error.detail}" if isinstance(error, ClusterError) else str(error)
