"""The simulated mesh as a whole (:class:`SimMesh`).

It holds its state, a cluster API per cluster, the data plane that carries its traffic, and the knobs'
changes, which every part follows.

>>> mesh = simulate()
>>> mesh.set(firewall=True).knobs.firewall
True
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping

from meshnb.backends.sim.cluster import SimCluster
from meshnb.backends.sim.dataplane import DataPlane
from meshnb.backends.sim.knobs import SCENARIOS, Knobs
from meshnb.backends.sim.sidecar import SimSidecars
from meshnb.backends.sim.state import MeshState
from meshnb.errors import ConfigError

__all__ = ["DataPlaneFactory", "SimMesh", "simulate"]

log = logging.getLogger("meshnb")

#: Makes the data plane of a mesh from it (:class:`SimSidecars` is one).
DataPlaneFactory = Callable[["SimMesh"], DataPlane]


class SimMesh(MeshState):
    """The simulated mesh: ``clusters`` maps names to :class:`SimCluster`; ``knobs`` can be changed.

    ``data_plane(mesh)`` makes what carries the traffic (default: the modelled sidecars), kept as the
    ``data_plane`` attribute; it hears of every change (:mod:`meshnb.backends.sim.dataplane`).
    """

    #: What traffic runs through, in words (shown by the demo).
    kind = "the simulated mesh: a model of Envoy, no cluster needed"
    #: Whether the ``ambient`` knob can be set (the lab's real data plane has no ztunnel).
    ambient_capable = True

    def __init__(
        self,
        knobs: Knobs,
        seed: int = 0,
        clusters: int = 2,
        versions: Mapping[str, str] | None = None,
        *,
        data_plane: DataPlaneFactory = SimSidecars,
    ):
        super().__init__(knobs, seed, clusters, versions)
        self._watchers: list[weakref.WeakMethod[Callable[[str], None]]] = []
        self.scenario = "custom"
        self.clusters = {name: SimCluster(self, name) for name in self._states}
        self.data_plane = data_plane(self)
        self._apply(knobs)

    def _apply(self, knobs: Knobs, *, new_scenario: bool = False) -> None:
        self._take(knobs)
        if new_scenario:  # the scenario's istiods restart, as the test bed restarts them after a fault
            self.restart_istiods()
        self.data_plane.on_change(new_scenario=new_scenario)

    def set(self, **knobs: object) -> SimMesh:
        """Change knobs in place (the world's state derives from them); returns the mesh."""
        self._apply(self.knobs.replace(**knobs))
        self.scenario = "custom"
        self._tell(f"the mesh: {', '.join(sorted(knobs))}")
        return self

    def watch(self, callback: Callable[[str], None]) -> None:
        """Call the bound method ``callback(what)`` after each change (held weakly: a panel can go).

        >>> class Panel:
        ...     def changed(self, what): print("changed:", what)
        >>> mesh, panel = simulate(), Panel()
        >>> mesh.watch(panel.changed)
        >>> _ = mesh.use("firewall")
        changed: the scenario: firewall
        """
        self._watchers.append(weakref.WeakMethod(callback))

    def _tell(self, what: str) -> None:
        alive = [(ref, ref()) for ref in self._watchers]
        self._watchers = [ref for ref, callback in alive if callback is not None]
        for _ref, callback in alive:
            if callback is not None:
                callback(what)

    def use(self, scenario: str, **knobs: object) -> SimMesh:
        """Switch to a named scenario (its knobs plus ``knobs``); sidecars forget past ejections.

        >>> simulate().use("trust-mismatch").knobs.trust_mismatch
        True
        """
        if scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        self._apply(Knobs().replace(**SCENARIOS[scenario]).replace(**knobs), new_scenario=True)
        self.scenario = scenario if not knobs else f"{scenario} (+{', '.join(sorted(knobs))})"
        self._tell(f"the scenario: {self.scenario}")
        log.debug("simulated mesh %s, seed %d: %s", self.scenario, self.seed, self.knobs)
        return self

    def close(self) -> None:
        """Nothing to release (the lab's subclass stops its processes); here for ``with`` like the others."""

    def __enter__(self) -> SimMesh:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def simulate(scenario: str = "healthy", seed: int = 0, *, clusters: int = 2, **knobs: object) -> SimMesh:
    """The simulated two-cluster mesh of Istio's guide, with a scenario's knobs and any set directly.

    >>> mesh = simulate("firewall", seed=1, retries=0)
    >>> (mesh.knobs.firewall, mesh.knobs.retries, sorted(mesh.clusters))
    (True, 0, ['cluster1', 'cluster2'])
    """
    return SimMesh(Knobs(), seed=seed, clusters=clusters).use(scenario, **knobs)
