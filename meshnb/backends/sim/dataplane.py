"""The seam between the simulated cluster API and what carries the mesh's traffic (its data plane).

:class:`meshnb.backends.sim.SimCluster` hands ``exec`` of ``curl`` in a pod, and of ``pilot-agent
request GET <path>`` in its ``istio-proxy``, to the mesh's :class:`DataPlane`, and tells it of every
change of the mesh's state. The modelled one is :class:`meshnb.backends.sim.sidecar.SimSidecars`; the
lab's (:mod:`meshnb.backends.lab`) runs real Envoys. A data plane is made from the mesh it serves:
``SimMesh(knobs, data_plane=factory)`` calls ``factory(mesh)``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from meshnb.backends.sim.layout import SimPod

__all__ = ["CommandOutput", "DataPlane", "SimPod"]

#: What a command run in a pod gives: (stdout, stderr, exit code).
CommandOutput = tuple[str, str, int]


@runtime_checkable
class DataPlane(Protocol):
    """What carries a simulated mesh's traffic: the pods' curl, and their proxies' admin API."""

    def curl(self, cluster: str, pod: SimPod, args: list[str], timeout: float) -> CommandOutput:
        """``curl args`` run in ``pod`` of ``cluster`` (through its sidecar if it has one).

        May raise :class:`meshnb.errors.ClusterTimeout` when it takes longer than ``timeout`` seconds.
        """
        ...

    def admin(self, cluster: str, pod: SimPod, path: str) -> CommandOutput:
        """``pilot-agent request GET path`` in ``pod``'s istio-proxy: its Envoy's admin API."""
        ...

    def on_change(self, *, new_scenario: bool = False) -> None:
        """The mesh's state changed (knobs set, pods or services created or deleted): carry it out.

        ``new_scenario``: a scenario was chosen (:meth:`SimMesh.use`); past outlier ejections are
        forgotten.
        """
        ...
