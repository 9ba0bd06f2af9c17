"""Deterministic credentials for the simulated mesh: CA certificates, keys, tokens, kubeconfigs.

Keys are Ed25519 derived from the seed, and Ed25519 signatures are deterministic, so the same seed
gives byte-identical certificates. They are real X.509 certificates and a real private key, as in a
user's ``cacerts`` secret, so the tools that must never leak them can be tested on them.

>>> pki = SimPKI(seed=0)
>>> pem = pki.cacerts("cluster1", root="root")["root-cert.pem"]
>>> pem.startswith(b"-----BEGIN CERTIFICATE-----")
True
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from functools import cache

__all__ = ["NARROW_READER", "NOT_BEFORE", "READER", "REVOKED_READER", "SimPKI"]

#: The service account whose token a remote secret carries (Istio's reader), and the test bed's others:
#: one deleted after its token was made (a revoked token), one bound to a role without endpointslices.
READER = "istio-reader-service-account"
REVOKED_READER = "istio-reader-revoked"
NARROW_READER = "istio-reader-no-endpointslices"

#: Validity start of every simulated certificate (fixed, so runs are reproducible).
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SimPKI:
    """Credentials for one simulated mesh, derived from ``seed``."""

    def __init__(self, seed: int):
        self.seed = seed

    def _digest(self, *parts: object) -> bytes:
        return hashlib.sha256(":".join(map(str, (self.seed, *parts))).encode()).digest()

    def _key(self, name: str):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self._digest("key", name))

    def _cert(self, subject_cn: str, locality: str | None, key_name: str, issuer: tuple | None, years: int):
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Istio")]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject_cn))
        if locality:
            attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
        subject = x509.Name(attrs)
        key = self._key(key_name)
        issuer_name, issuer_key = issuer if issuer else (subject, key)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(int.from_bytes(self._digest("serial", key_name)[:16], "big") >> 1)
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_BEFORE + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(issuer_key, None)
        )

    @cache  # noqa: B019 - one SimPKI per mesh, few distinct arguments
    def _root(self, root: str):
        return self._cert("Root CA", None, f"root-{root}", None, years=10), self._key(f"root-{root}")

    @cache  # noqa: B019
    def cacerts(self, cluster: str, root: str) -> dict[str, bytes]:
        """The data of a ``cacerts`` secret: an intermediate for ``cluster`` signed by ``root``."""
        from cryptography.hazmat.primitives import serialization

        root_cert, root_key = self._root(root)
        ca = self._cert(
            "Intermediate CA", cluster, f"ca-{cluster}-{root}", (root_cert.subject, root_key), years=5
        )
        pem = serialization.Encoding.PEM
        ca_pem, root_pem = ca.public_bytes(pem), root_cert.public_bytes(pem)
        key_pem = self._key(f"ca-{cluster}-{root}").private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "ca-cert.pem": ca_pem,
            "ca-key.pem": key_pem,
            "cert-chain.pem": ca_pem + root_pem,
            "root-cert.pem": root_pem,
        }

    def token(self, cluster: str, *, expired: bool = False, account: str = READER) -> str:
        """A service-account JWT (unsigned by any real key) for ``account`` in ``cluster``'s istio-system.

        It is valid for two years from NOT_BEFORE or, ``expired``, for one hour. The reader account's
        token of a cluster is the same for a given seed whatever else changes.
        """
        header = {"alg": "RS256", "kid": _b64url(self._digest("kid", cluster)[:12])}
        expiry = NOT_BEFORE + (dt.timedelta(hours=1) if expired else dt.timedelta(days=365 * 2))
        payload = {
            "aud": ["https://kubernetes.default.svc.cluster.local"],
            "exp": int(expiry.timestamp()),
            "iat": int(NOT_BEFORE.timestamp()),
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": f"system:serviceaccount:istio-system:{account}",
        }
        parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, payload)]
        signature = self._digest("sig", cluster, *([] if account == READER else [account])) * 8
        return ".".join([*map(_b64url, parts), _b64url(signature)])

    @cache  # noqa: B019
    def api_ca(self, cluster: str) -> bytes:
        """The PEM of the CA that signs ``cluster``'s API server certificate (a remote kubeconfig's CA)."""
        from cryptography.hazmat.primitives import serialization

        cert = self._cert("kubernetes", cluster, f"api-ca-{cluster}", None, years=10)
        return cert.public_bytes(serialization.Encoding.PEM)

    def kubeconfig(self, cluster: str, server: str, *, expired: bool = False, account: str = READER) -> bytes:
        """A kubeconfig for reaching ``cluster`` at ``server`` with a bearer token, as istioctl writes."""
        import yaml

        ca = base64.b64encode(self.api_ca(cluster)).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"certificate-authority-data": ca, "server": server}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "preferences": {},
            "users": [
                {"name": cluster, "user": {"token": self.token(cluster, expired=expired, account=account)}}
            ],
        }
        return yaml.safe_dump(config, sort_keys=False).encode()
