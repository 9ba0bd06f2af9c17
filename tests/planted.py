"""The simulated mesh's secrets, as needles to search for where they must never appear."""

from __future__ import annotations


def planted_secrets(mesh) -> list[bytes]:
    """Every cluster's reader token (whole, and each JWT segment) and ``cacerts`` private key (each
    line of the PEM body) of a simulated mesh."""
    needles = []
    for cluster in mesh.clusters:
        token = mesh.pki.token(cluster)
        needles += [token.encode()] + [part.encode() for part in token.split(".")]
        key = mesh.pki.cacerts(cluster, mesh.root_of(cluster))["ca-key.pem"]
        needles += [line for line in key.splitlines() if line and not line.startswith(b"-----")]
    return needles
