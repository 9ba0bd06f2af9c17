"""Workload certificates for the lab's proxies, issued by each cluster's ``cacerts`` intermediate.

As istiod does with a plugged-in CA: the intermediate in a cluster's ``cacerts`` signs a short-lived
certificate per workload (SPIFFE URI SAN); the workload presents it with the intermediate, and trusts
the cluster's ``root-cert.pem``. Keys are ECDSA P-256 (Envoy's TLS offers no Ed25519 signature
algorithm); the intermediates are the simulated mesh's (Ed25519), so the same seed gives the same
CA chain in the lab as in the simulated mesh.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from meshnb.backends.sim.pki import SimPKI
from meshnb.errors import ConfigError

__all__ = ["workload_files"]


def workload_files(pki: SimPKI, directory: Path, cluster: str, root: str, workload: str) -> dict[str, Path]:
    """Write ``workload``'s certificate chain, key and trusted root; return their paths.

    ``root`` names the root that signs ``cluster``'s intermediate (equal names trust each other).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import NameOID

    cacerts = pki.cacerts(cluster, root)
    issuer = x509.load_pem_x509_certificate(cacerts["ca-cert.pem"])
    issuer_key = serialization.load_pem_private_key(cacerts["ca-key.pem"], password=None)
    if not isinstance(issuer_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(
            f"lab: the cacerts key of {cluster} is a {type(issuer_key).__name__}, not Ed25519 or ECDSA"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    spiffe = f"spiffe://cluster.local/ns/{workload}"
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Istio")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=True)
        .sign(issuer_key, None)
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = f"{cluster}-{workload.replace('/', '-')}-{root}"
    paths = {
        "chain": directory / f"{stem}-chain.pem",
        "key": directory / f"{stem}-key.pem",
        "root": directory / f"{stem}-root.pem",
    }
    paths["chain"].write_bytes(cert.public_bytes(serialization.Encoding.PEM) + cacerts["ca-cert.pem"])
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    paths["root"].write_bytes(cacerts["root-cert.pem"])
    return paths
