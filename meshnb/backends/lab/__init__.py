"""The lab: the guide's two-cluster data plane running for real on this machine's loopback.

The cluster API (pods, nodes, services, secrets, istiod's log) is the simulated mesh's model; the data
plane is real: per cluster a sidecar Envoy for the curl pod, an east-west gateway Envoy on 15443 with
mTLS, and helloworld servers on their pods' IPs, each cluster on its own ``127.N.0.0/16`` (N free, picked
at start). The lab's control plane (:mod:`meshnb.backends.lab.control_plane`) writes every Envoy's
listeners, clusters and endpoints from the mesh's state, as istiod would; a knob change rewrites them
and waits until the Envoys run the new configuration. Faults are real: the firewall drops connections
to the gateways (a listener that never completes a handshake), a different root makes the TLS handshake
fail, a missing remote secret leaves the remote endpoints out, a dead backend refuses connections.

``exec`` of ``curl`` in a pod runs the real curl: through the cluster's sidecar for injected pods (as
Istio's traffic capture would), directly for pods without a sidecar. ``pilot-agent request GET
clusters?format=json`` reads the sidecar's (or gateway's) real admin API. Both reach the Envoys through
the simulated mesh's data-plane seam (:mod:`meshnb.backends.sim.dataplane`):
:class:`~meshnb.backends.lab.dataplane.EnvoyDataPlane` is the mesh's ``data_plane``.

>>> import meshnb
>>> with meshnb.lab() as mesh:
...     sorted(set(meshnb.check_load_balancing(mesh, requests=20).evidence["samples"]["version"]))
['v1', 'v2']
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from meshnb.backends.lab.dataplane import AddressTaken, EnvoyDataPlane
from meshnb.backends.lab.envoy import Envoy
from meshnb.backends.sim import Knobs, SimMesh
from meshnb.errors import ConfigError

__all__ = ["AddressTaken", "EnvoyDataPlane", "LabMesh", "lab"]

log = logging.getLogger("meshnb")

GATEWAY_SUBNET = 9  # 127.N.9.100 is cluster N's east-west gateway
NETS_TRIED = 5


class LabMesh(SimMesh):
    """The simulated mesh's model with a real data plane; use :func:`lab` to start and stop it."""

    kind = "the lab: real Envoy proxies, mTLS and curl on this machine"
    ambient_capable = False  # ztunnel is not in the package registries: the lab runs sidecars only

    def _take(self, knobs: Knobs) -> None:
        if knobs.ambient:
            raise ConfigError(
                "the lab runs real Envoy sidecars; ambient mode needs ztunnel, which it does not have: "
                "use meshnb.simulate(..., ambient=True) for ambient mode"
            )
        super()._take(knobs)

    def __init__(self, knobs: Knobs, seed: int, clusters: int, directory: Path, *, remove: bool = False):
        self.directory = directory
        self._remove = remove
        self.net = random.SystemRandom().randrange(20, 240 - clusters)
        self.envoys = EnvoyDataPlane(self, directory)
        super().__init__(knobs, seed=seed, clusters=clusters, data_plane=lambda _mesh: self.envoys)

    # ---- addresses: each cluster on its own loopback /16 ----

    def address(self, cluster_index: int, subnet: int, host: int) -> str:
        """A pod's IP, on the cluster's own loopback /16 (127.N.subnet.host)."""
        return f"127.{self.net + cluster_index}.{subnet}.{host}"

    def gateway_address(self, cluster_index: int) -> str:
        """The loopback IP the cluster's east-west gateway Envoy listens on (127.N.9.100)."""
        return self.address(cluster_index, GATEWAY_SUBNET, 100)

    # ---- what the cluster API shows of the real data plane ----

    def cacerts(self, cluster: str) -> dict[str, bytes] | None:
        """As the simulated mesh's, read from the files the lab's workload certificates were issued from."""
        if super().cacerts(cluster) is None:
            return None
        return self.envoys.cacerts_files(cluster)

    @property
    def sidecars(self) -> dict[str, Envoy]:
        """Each cluster's sidecar Envoy (the curl pod's)."""
        return self.envoys.sidecars

    @property
    def gateways(self) -> dict[str, Envoy]:
        """Each cluster's east-west gateway Envoy."""
        return self.envoys.gateways

    # ---- lifecycle ----

    def start(self, timeout: float = 10.0) -> None:
        """Start every proxy and backend and wait until all run the configuration (RuntimeError if not)."""
        self.envoys.start(timeout)
        log.info(
            "lab: %d clusters on 127.%d-%d.x.x under %s",
            len(self.clusters),
            self.net + 1,
            self.net + len(self.clusters),
            self.directory,
        )

    def sync(self) -> None:
        """Bring the data plane to the mesh's state and wait until every Envoy runs it."""
        self.envoys.sync()

    def processes(self) -> list[int]:
        """PIDs of the Envoy processes the lab runs."""
        return self.envoys.processes()

    def close(self) -> None:
        """Stop every process, server and socket the lab started (safe to call twice)."""
        atexit.unregister(self.close)
        self.envoys.close()
        if self._remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def lab(
    scenario: str = "healthy",
    seed: int = 0,
    *,
    clusters: int = 2,
    directory: str | os.PathLike[str] | None = None,
    **knobs: object,
) -> LabMesh:
    """Start the lab with a scenario's knobs (as :func:`meshnb.simulate`) and return it, ready.

    Use it as a context manager (``with meshnb.lab("firewall") as mesh:``) to stop every process on
    exit, or keep it (a notebook): it stops when Python exits, and its Envoys die with this process.
    ``directory`` keeps the Envoy configurations, logs and certificates (default: a temporary
    directory, removed when the lab stops).
    """
    own = directory is None
    attempt = 0
    while True:
        attempt += 1
        folder = Path(tempfile.mkdtemp(prefix="meshnb-lab-")) if directory is None else Path(directory)
        mesh = LabMesh(Knobs(), seed, clusters, folder, remove=own)
        try:
            mesh.use(scenario, **knobs)
            started = time.monotonic()
            mesh.start()
        except AddressTaken as exc:
            mesh.close()
            if attempt >= NETS_TRIED:
                raise
            log.info("lab: %s; trying another net", exc)
            continue
        except BaseException:  # also KeyboardInterrupt: nothing may be left running
            mesh.close()
            raise
        log.info("lab ready in %.2f s", time.monotonic() - started)
        atexit.register(mesh.close)
        return mesh
