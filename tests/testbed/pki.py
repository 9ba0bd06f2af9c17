"""Certificates and keys of the test bed: each API server's own PKI and Istio's ``cacerts``.

Fresh keys on every ``up`` (nothing here is reproducible on purpose: these are a cluster's secrets).

>>> root = authority("Root CA")
>>> chain = cacerts(root, "cluster1")
>>> sorted(chain)
['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(cn: str, org: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    org: str | None = None,
    ca: bool = False,
    server: bool = False,
    client: bool = False,
    ips: tuple[str, ...] = (),
    days: int = 3650,
) -> Issued:
    """A certificate for ``cn`` signed by ``issuer`` (self-signed when None), with a new P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(cn, org)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        purposes = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    if server:
        names = [x509.DNSName("localhost")]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(("127.0.0.1", *ips))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def authority(cn: str, issuer: Issued | None = None) -> Issued:
    """A CA certificate (a root when ``issuer`` is None)."""
    return issue(cn, issuer, org="Istio" if "Root" in cn or "Intermediate" in cn else None, ca=True)


def cacerts(root: Issued, cluster: str) -> dict[str, bytes]:
    """The data of a ``cacerts`` secret, as Istio's ``make cluster1-cacerts`` lays it out."""
    ca = issue(f"Intermediate CA {cluster}", root, org="Istio", ca=True)
    return {
        "ca-cert.pem": ca.cert_pem,
        "ca-key.pem": ca.key_pem,
        "cert-chain.pem": ca.cert_pem + root.cert_pem,
        "root-cert.pem": root.cert_pem,
    }


def cluster_pki(directory: Path, host: str) -> None:
    """One cluster's API-server PKI in ``directory``: its CA, serving (for ``host`` and loopback) and
    client certificates, and the service-account signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = authority("testbed-ca")
    files = {
        "ca": ca,
        "apiserver": issue("kube-apiserver", ca, server=True, ips=(host,)),
        "admin": issue("testbed-admin", ca, org="system:masters", client=True),
        "kubelet-client": issue("kube-apiserver-kubelet-client", ca, org="system:masters", client=True),
        "kwok": issue("kwok", ca, server=True),
        "kwok-client": issue("system:kwok-controller", ca, org="system:masters", client=True),
    }
    for name, issued in files.items():
        _write(directory / f"{name}.crt", issued.cert_pem)
        _write(directory / f"{name}.key", issued.key_pem)
    signing = ec.generate_private_key(ec.SECP256R1())
    pub = signing.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write(directory / "sa.key", Issued(ca.cert, signing).key_pem)
    _write(directory / "sa.pub", pub)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_claims(token: str) -> dict:
    """The claims of a JWT, read without verifying it; ValueError if it has none.

    >>> token_claims("e30." + _b64url(b'{"sub": "me"}') + ".x")
    {'sub': 'me'}
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: it has no three parts")
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    if not isinstance(claims, dict):
        raise ValueError("the JWT's claims are not an object")
    return claims


def resign_token(token: str, key_pem: bytes, **claims: object) -> str:
    """``token`` (a JWT the API server issued, signed ES256 with its service-account key) with
    ``claims`` changed, signed again with that key (``key_pem``): the API server takes it for one it
    issued itself.

    >>> key = ec.generate_private_key(ec.SECP256R1())
    >>> pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    >>> header, payload = (_b64url(json.dumps(p).encode()) for p in ({"alg": "ES256"}, {"exp": 1}))
    >>> again = resign_token(f"{header}.{payload}.x", pem, exp=2)
    >>> json.loads(base64.urlsafe_b64decode(again.split(".")[1] + "=="))
    {'exp': 2}
    """
    header, _payload, _signature = token.split(".")
    body = _b64url(json.dumps({**token_claims(token), **claims}, separators=(",", ":")).encode())
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.sign(f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)  # JWS wants r and s, 32 bytes each, not DER
    return f"{header}.{body}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
