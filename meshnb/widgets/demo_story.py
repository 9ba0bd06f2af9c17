"""Why a simulated cluster's traffic stays local or spreads, in sentences a stakeholder can follow.

Read from the same state the sidecars act on (the endpoints each istiod programmed, the knobs), so the
story and the traffic cannot disagree.

>>> import meshnb
>>> print(why(meshnb.simulate("missing-remote-secret"), "cluster1")[0])
cluster1's sidecar holds 1 pod of its own (v1, weight 1).
"""

from __future__ import annotations

from meshnb.backends.sim import CONNECT_TIMEOUT_MS, SimMesh

__all__ = ["why"]

POLICY_WORDS = {
    "LEAST_REQUEST": "Least request (Istio's default) with one request at a time picks hosts by weight",
    "ROUND_ROBIN": "Round robin lets hosts take turns, in proportion to their weights",
    "RANDOM": "Random ignores weights: the remote gateway counts as one host however many pods it stands for",
}

#: How ztunnel picks, for an ambient mesh (its story has no policy or locality sentence).
AMBIENT_WORDS = (
    "ztunnel picks at random, weighted by capacity, and reads no load-balancing policy or locality "
    "setting, so each pod of the service gets the same share wherever it runs."
)


def _pods(count: int) -> str:
    return f"{count} pod" + ("" if count == 1 else "s")


def _holdings(mesh: SimMesh, source: str) -> str:
    endpoints = mesh.endpoints(source, "sample", "helloworld", 5000)
    local = [ep for ep in endpoints if not ep["via_gateway"]]
    parts = []
    if local:
        versions = ", ".join(sorted({ep["versions"][0] for ep in local}))
        each = " each" if len(local) > 1 else ""
        parts.append(f"{_pods(len(local))} of its own ({versions}, weight 1{each})")
    for ep in endpoints:
        if ep["via_gateway"]:
            versions = ", ".join(sorted(set(ep["versions"])))
            parts.append(
                f"{ep['dest_cluster']}'s east-west gateway standing for {_pods(len(ep['versions']))} "
                f"({versions}, weight {ep['weight']})"
            )
    if not parts:
        return f"{source}'s sidecar holds no helloworld endpoint: every request fails (no healthy upstream)."
    return f"{source}'s sidecar holds {' and '.join(parts)}."


def _locality(mesh: SimMesh, source: str) -> str:
    knobs = mesh.knobs
    region, zone = mesh.locality_of(source)
    same = (
        " All clusters are in one zone, so for locality every endpoint is local."
        if knobs.same_locality
        else ""
    )
    if not knobs.locality_lb:
        return "Locality load balancing is off: every endpoint is a candidate, so traffic spreads." + same
    weights = mesh.distribute(region)
    if weights:
        spread = ", ".join(f"{share}% to {r}" for r, share in weights.items() if r != region)
        return f"localityLbSetting.distribute keeps {weights[region]}% of {source}'s traffic in {region}" + (
            f" and sends {spread}." if spread else "."
        )
    if not knobs.outlier_detection:
        return (
            "Locality load balancing is on, but no DestinationRule has outlier detection, so Istio does "
            "not apply it: traffic spreads." + same
        )
    return (
        f"Locality load balancing with outlier detection puts {source}'s own zone ({region}/{zone}) first: "
        "traffic stays there and moves on only when those endpoints fail and are ejected." + same
    )


def _faults(mesh: SimMesh, source: str) -> list[str]:
    knobs = mesh.knobs
    others = [c for c in mesh.clusters if c != source]
    said = []
    if knobs.firewall:
        said.append(
            "A firewall drops traffic between the networks: an attempt at another cluster's gateway waits "
            f"{CONNECT_TIMEOUT_MS / 1000:.0f} s for a connection before Envoy retries on another host, so "
            "clients that give up sooner fail (curl here waits 2 s) and the patient ones get "
            f"{source}'s answer."
        )
    distrusted = [c for c in others if mesh.root_of(c) != mesh.root_of(source)]
    if distrusted:
        said.append(
            f"{' and '.join(distrusted)} chain{'s' if len(distrusted) == 1 else ''} to a different root "
            f"than {source}: the mTLS handshake with {'its' if len(distrusted) == 1 else 'their'} gateway "
            "fails and Envoy retries elsewhere."
        )
    for remote in others:
        key = mesh.remote_secret_key(source, remote)
        if key is None:
            said.append(
                f"{source}'s istiod has no remote secret for {remote}, so it never learns {remote}'s "
                "endpoints and sends nothing there."
            )
        elif key != remote:
            said.append(
                f"{source}'s remote secret for {remote} holds the kubeconfig under '{key}', not '{remote}': "
                f"istiod refuses it and sends nothing to {remote}."
            )
    for version in knobs.dead_versions:
        if knobs.outlier_detection:
            then = (
                "outlier detection ejects them after 3 errors in a row for 30 s, and if they were the "
                "preferred locality, traffic fails over to the next one."
            )
        else:
            then = "without outlier detection they stay candidates, and each request that picks one retries."
        said.append(f"{version}'s process is down: its pods refuse connections; {then}")
    return said


def why(mesh: SimMesh, source: str) -> list[str]:
    """Sentences on where ``source``'s requests go and why: endpoints, policy, locality, faults."""
    endpoints = mesh.endpoints(source, "sample", "helloworld", 5000)
    if mesh.knobs.ambient:
        sentences = [
            _holdings(mesh, source).replace("sidecar", "ztunnel").replace("weight", "capacity"),
            AMBIENT_WORDS,
        ]
    else:
        sentences = [_holdings(mesh, source), _locality(mesh, source)]
        if len({ep["weight"] for ep in endpoints}) > 1 or mesh.knobs.lb_policy != "LEAST_REQUEST":
            sentences.append(POLICY_WORDS[mesh.knobs.lb_policy] + ".")
    return sentences + _faults(mesh, source)
