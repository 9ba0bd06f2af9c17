"""How a simulated sidecar picks an endpoint, and the split its configuration leads to.

Envoy's load balancers as Istio sets them (DestinationRule ``trafficPolicy.loadBalancer.simple``):

- ``LEAST_REQUEST`` (Istio's default): with equal weights the better of two random hosts by
  outstanding requests; with unequal weights an EDF schedule on weight / (outstanding + 1). A curl in a
  loop has nothing outstanding, so that is a uniform pick with equal weights and a weighted round
  robin otherwise.
- ``ROUND_ROBIN``: weighted round robin (Envoy's EDF scheduler, modelled by smooth weighted round
  robin, which visits hosts in the same proportions).
- ``RANDOM``: a random host, *ignoring weights* (Envoy picks ``hosts[random % n]``). In a
  multi-network mesh the remote cluster is one endpoint (its east-west gateway) whose weight is the
  number of remote pods, so RANDOM gives it one share whatever runs behind it.

With locality weighted load balancing (``localityLbSetting.distribute``) a locality is picked first,
by its weight among the localities with live endpoints, then a host within it.

Endpoints are the dicts of :meth:`meshnb.backends.sim.SimMesh.endpoints` (``address``, ``weight``,
``region``, ``zone``, ``versions``, optional ``locality_weight``).

>>> eps = [
...     {"address": "a", "weight": 1, "versions": ("v1",)},
...     {"address": "b", "weight": 3, "versions": ("v2",)},
... ]
>>> expected_shares(eps, "ROUND_ROBIN")
{'v1': 0.25, 'v2': 0.75}
>>> expected_shares(eps, "RANDOM")
{'v1': 0.5, 'v2': 0.5}
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

__all__ = ["DEFAULT_POLICY", "POLICIES", "Picker", "expected_shares"]

#: Istio's ``loadBalancer.simple`` values the simulated sidecar implements (the default first).
POLICIES = ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
DEFAULT_POLICY = POLICIES[0]


def _by_locality(endpoints: Sequence[dict]) -> dict[str, list[dict]]:
    """Endpoints grouped by locality (``region/zone``) when they carry locality weights, else one group.

    Localities weighted 0 are left out, as Envoy never picks them.
    """
    if not any("locality_weight" in endpoint for endpoint in endpoints):
        return {"": list(endpoints)} if endpoints else {}
    groups: dict[str, list[dict]] = defaultdict(list)
    for endpoint in endpoints:
        if endpoint.get("locality_weight", 1) > 0:
            groups[f"{endpoint['region']}/{endpoint['zone']}"].append(endpoint)
    return dict(groups)


def _locality_weight(group: list[dict]) -> float:
    return float(group[0].get("locality_weight", 1))


def _host_weight(policy: str, endpoint: dict) -> float:
    return 1.0 if policy == "RANDOM" else float(endpoint["weight"])


def expected_shares(endpoints: Sequence[dict], policy: str) -> dict[str, float]:
    """The share of requests each version gets from a sidecar holding ``endpoints`` (one priority).

    A gateway endpoint's share goes equally to the versions of the pods behind it.
    """
    shares: dict[str, float] = defaultdict(float)
    groups = _by_locality(endpoints)
    group_total = sum(_locality_weight(group) for group in groups.values())
    for group in groups.values():
        group_share = _locality_weight(group) / group_total
        total = sum(_host_weight(policy, ep) for ep in group)
        for endpoint in group:
            share = group_share * _host_weight(policy, endpoint) / total
            for version in endpoint["versions"]:
                shares[version] += share / len(endpoint["versions"])
    return dict(sorted(shares.items()))


class Picker:
    """One sidecar's load-balancer state: the round-robin positions it has reached.

    >>> picker = Picker(random.Random(0))
    >>> eps = [{"address": "a", "weight": 1}, {"address": "b", "weight": 2}]
    >>> [picker.pick("ROUND_ROBIN", eps)["address"] for _ in range(6)]
    ['b', 'a', 'b', 'b', 'a', 'b']
    """

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._current: dict[tuple, dict[str, float]] = {}

    def forget(self) -> None:
        """Drop the round-robin state (Envoy rebuilds its schedulers when the host set changes)."""
        self._current.clear()

    def _round_robin(self, items: Sequence[tuple[str, float]]) -> str:
        """Smooth weighted round robin over (key, weight) pairs; returns the chosen key."""
        current = self._current.setdefault(tuple(sorted(key for key, _ in items)), {})
        total = sum(weight for _, weight in items)
        for key, weight in items:
            current[key] = current.get(key, 0.0) + weight
        chosen = max(items, key=lambda item: current[item[0]])[0]
        current[chosen] -= total
        return chosen

    def pick(self, policy: str, endpoints: Sequence[dict]) -> dict:
        """The endpoint ``policy`` sends the next request to, among ``endpoints`` (non-empty)."""
        groups = _by_locality(endpoints) or {"": list(endpoints)}  # all weighted 0: no locality pick
        if len(groups) > 1:
            endpoints = groups[self._round_robin([(key, _locality_weight(g)) for key, g in groups.items()])]
        else:
            endpoints = next(iter(groups.values()))
        weights = [float(ep["weight"]) for ep in endpoints]
        if policy == "RANDOM":
            return self._rng.choice(endpoints)
        if policy == "LEAST_REQUEST" and len(set(weights)) == 1:
            return self._rng.choices(endpoints, weights=weights)[0]
        by_address = {ep["address"]: ep for ep in endpoints}
        return by_address[self._round_robin([(ep["address"], float(ep["weight"])) for ep in endpoints])]
