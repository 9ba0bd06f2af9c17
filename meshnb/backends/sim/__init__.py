"""The simulated mesh: a seeded model of the two-cluster setup of Istio's multicluster guide.

Not canned output: the world is state (clusters, nodes, pods, remote secrets, certificates, knobs),
and everything a check reads derives from it. A sidecar's endpoints come from what its cluster's
istiod can see (it needs a valid remote secret for each other cluster); a curl through the sidecar
picks among those endpoints the way Envoy does (priorities, weights, Istio's default retries to
another host) and each attempt succeeds or fails from the knobs (firewall between networks,
certificates signed by different roots, dead backends). istiod's log lines, the ``cacerts`` and
remote secrets, and the Envoy admin ``/clusters`` JSON are all computed from the same state.

Modules: ``knobs`` (knobs, scenarios), ``state`` (the mesh's state), ``layout`` (the guide's pods),
``istiod`` (remote secrets, istiod's log), ``cluster`` (the cluster API), ``dataplane`` (the seam below),
``sidecar`` (the modelled Envoy), ``curl`` (curl's options and --write-out), ``lb``, ``pki``, and
``mesh`` (:class:`SimMesh`: all of them together).

Another data plane plugs in as ``SimMesh(knobs, data_plane=factory)``: ``factory(mesh)`` returns a
:class:`DataPlane`, whose ``curl(cluster, pod, args, timeout)`` and ``admin(cluster, pod, path)`` answer
``exec`` of curl and of ``pilot-agent request GET path`` (``pod``: a :class:`SimPod`) and whose
``on_change(new_scenario=...)`` follows every change of the mesh. ``SimMesh.cacerts``, ``address`` and
``gateway_address`` are overridable for its own certificates and addresses (see :mod:`meshnb.backends.lab`).

>>> mesh = simulate("missing-remote-secret")
>>> mesh.knobs.missing_remote_secret
('cluster1',)
>>> [ep["dest_cluster"] for ep in mesh.clusters["cluster1"].endpoints_view("sample", "helloworld", 5000)]
['cluster1']
"""

from __future__ import annotations

from meshnb.backends.sim.cluster import SimCluster
from meshnb.backends.sim.curl import fill_write_out
from meshnb.backends.sim.dataplane import CommandOutput, DataPlane
from meshnb.backends.sim.istiod import CLUSTER_ANNOTATION, LAST_APPLIED_ANNOTATION, MULTICLUSTER_LABEL
from meshnb.backends.sim.knobs import MAX_REPLICAS, OUTLIER_DETECTION, SCENARIO_DESCRIPTIONS, SCENARIOS, Knobs
from meshnb.backends.sim.layout import ClusterState, SimPod
from meshnb.backends.sim.lb import DEFAULT_POLICY, POLICIES
from meshnb.backends.sim.mesh import DataPlaneFactory, SimMesh, simulate
from meshnb.backends.sim.pki import SimPKI
from meshnb.backends.sim.sidecar import (
    CONNECT_TIMEOUT_MS,
    ENVOY_MAX_EJECTION_PERCENT,
    ENVOY_RESET,
    TLS_VERIFY_FAILED,
    SimSidecars,
)
from meshnb.backends.sim.state import MeshState

__all__ = [
    "CLUSTER_ANNOTATION",
    "CONNECT_TIMEOUT_MS",
    "DEFAULT_POLICY",
    "ENVOY_MAX_EJECTION_PERCENT",
    "ENVOY_RESET",
    "LAST_APPLIED_ANNOTATION",
    "MAX_REPLICAS",
    "MULTICLUSTER_LABEL",
    "OUTLIER_DETECTION",
    "POLICIES",
    "SCENARIOS",
    "SCENARIO_DESCRIPTIONS",
    "TLS_VERIFY_FAILED",
    "ClusterState",
    "CommandOutput",
    "DataPlane",
    "DataPlaneFactory",
    "Knobs",
    "MeshState",
    "SimCluster",
    "SimMesh",
    "SimPKI",
    "SimPod",
    "SimSidecars",
    "fill_write_out",
    "simulate",
]
