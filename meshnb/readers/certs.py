"""X.509 certificates from PEM text: rows of the ``certs`` schema, and the chain checks trust needs.

Only ``CERTIFICATE`` blocks are parsed. A private key block (``PRIVATE KEY``, ``RSA PRIVATE KEY``,
``EC PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``...) is skipped unread: its body is never decoded,
stored, logged or quoted in an error. Other blocks (``CERTIFICATE REQUEST``, ``X509 CRL``...) are
skipped too. Text outside blocks is ignored; text with no block at all is an error.

Fingerprints and serials are upper-case hex, as ``openssl x509 -noout -fingerprint -sha256 -serial``
prints them, and subjects and issuers read as ``openssl x509 -noout -subject -issuer -nameopt RFC2253``
prints them (``emailAddress=...,CN=Root CA,...``: OpenSSL's attribute names and escaping, see
:func:`openssl_name`), so they can be compared with what a user runs by hand.

>>> from meshnb.backends.sim.pki import SimPKI
>>> data = SimPKI(seed=0).cacerts("cluster1", root="root")
>>> df = read_certs(data["cert-chain.pem"], cluster="cluster1", key="cert-chain.pem")
>>> df["subject"].tolist()
['L=cluster1,CN=Intermediate CA,O=Istio', 'CN=Root CA,O=Istio']
>>> df["issuer"].tolist(), df["is_ca"].tolist()
(['CN=Root CA,O=Istio', 'CN=Root CA,O=Istio'], [True, True])
>>> read_certs(data["ca-key.pem"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
meshnb.errors.ParseError: this holds only a private key (1 block(s)) and no certificate: meshnb never reads...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd
    from cryptography.x509 import Certificate

__all__ = [
    "ParsedPem",
    "cert_record",
    "certs_frame",
    "chain_roots",
    "chains_to",
    "fingerprint",
    "is_issued_by",
    "is_self_signed",
    "load_certificates",
    "openssl_name",
    "parse_pem",
    "read_certs",
]

log = logging.getLogger("meshnb")

_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----\s*$")
_END = re.compile(r"^-----END ([A-Z0-9 ]+)-----\s*$")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/=]{16,}")
_REDACTED = "[not shown: may be key material]"


def _is_private(label: str) -> bool:
    return "PRIVATE" in label.upper()


def _safe(line: str) -> str:
    """``line`` for an error message, unless it could be part of a private key (then a placeholder)."""
    if "PRIVATE" in line.upper() or _LONG_BASE64.search(line):
        return _REDACTED
    return line


@dataclass
class ParsedPem:
    """What :func:`parse_pem` found: certificates with the line each began on, and what was skipped."""

    certificates: list[tuple[Certificate, int]] = field(default_factory=list)
    private_keys: int = 0
    """Private key blocks skipped unread."""
    skipped: list[str] = field(default_factory=list)
    """Labels of other non-certificate blocks skipped (``CERTIFICATE REQUEST``...)."""
    broken: list[tuple[int, ParseError]] = field(default_factory=list)
    """``CERTIFICATE`` blocks that did not read (``keep_going=True``): the BEGIN line's number, the error."""


def _to_text(pem_text: str | bytes) -> str:
    if isinstance(pem_text, bytes | bytearray | memoryview):
        try:
            return bytes(pem_text).decode("ascii")
        except UnicodeDecodeError as exc:
            # PEM is ASCII; binary input (DER, a compressed file) is not PEM. Show no bytes of it.
            text = bytes(pem_text)[: exc.start].decode("ascii")
            lineno = text.count("\n") + 1
            raise ParseError(
                f"not PEM text: non-ASCII byte at offset {exc.start} (DER or binary data?)",
                line=_REDACTED,
                lineno=lineno,
            ) from None
    if not isinstance(pem_text, str):
        raise TypeError(f"pem_text must be str or bytes, not {type(pem_text).__name__}")
    return pem_text


def parse_pem(pem_text: str | bytes, *, keep_going: bool = False) -> ParsedPem:
    """Every ``CERTIFICATE`` block of ``pem_text`` as a cryptography certificate; keys skipped unread.

    Raises :class:`ParseError` (with the failing line and its number) for a block that is not closed,
    a body line that is not base64, a body that is not a DER certificate, or text with no PEM block.
    With ``keep_going``, a closed ``CERTIFICATE`` block whose body is not base64 or not a certificate
    is put in :attr:`ParsedPem.broken` instead, and the blocks after it are read.

    >>> try:
    ...     parse_pem("-----BEGIN CERTIFICATE-----\\nMIIB\\n")
    ... except ParseError as err:
    ...     err.lineno, err.line
    (1, '-----BEGIN CERTIFICATE-----')
    """
    from cryptography import x509

    text = _to_text(pem_text)
    parsed = ParsedPem()
    label: str | None = None
    begin_line, begin_no = "", 0
    body: list[tuple[str, int]] = []
    broken: ParseError | None = None
    blocks = 0
    first_text: tuple[str, int] | None = None
    lines = text.splitlines()
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        begin, end = _BEGIN.match(line), _END.match(line)
        if label is None:
            if begin:
                label, begin_line, begin_no, body = begin.group(1), line, lineno, []
                blocks += 1
            elif end:
                raise ParseError("PEM END line without a BEGIN line", line=_safe(line), lineno=lineno)
            elif line and first_text is None:
                first_text = (line, lineno)
            continue
        private = _is_private(label)
        if begin:
            opened = "a private key block" if private else f"block {label!r}"
            raise ParseError(
                f"PEM BEGIN line inside {opened} opened on line {begin_no} (missing END line?)",
                line=_safe(line),
                lineno=lineno,
            )
        if end:
            if end.group(1) != label:
                raise ParseError(
                    f"PEM END line does not match the BEGIN line on line {begin_no}",
                    line=_safe(line),
                    lineno=lineno,
                )
            if private:
                parsed.private_keys += 1
                log.debug("skipped a private key block at line %d (not read)", begin_no)
            elif label == "CERTIFICATE":
                if broken is None:
                    try:
                        parsed.certificates.append((_load_der(body, begin_line, begin_no, x509), begin_no))
                    except ParseError as exc:
                        if not keep_going:
                            raise
                        broken = exc
                if broken is not None:
                    parsed.broken.append((begin_no, broken))
            else:
                parsed.skipped.append(label)
            label, body, broken = None, [], None
            continue
        if private:
            continue  # never look at a key's body
        if label == "CERTIFICATE":
            if line.startswith("-----END "):
                raise ParseError(
                    "text after a PEM END line (files concatenated without a newline?)",
                    line=_safe(line),
                    lineno=lineno,
                )
            if broken is not None:
                continue  # the rest of a broken block, up to its END line
            if ":" in line and not body:
                broken = ParseError(
                    "encrypted or annotated certificate block: expected base64 lines only",
                    line=_safe(line),
                    lineno=lineno,
                )
            elif not _BASE64_LINE.match(line):
                broken = ParseError(
                    "not base64 inside a CERTIFICATE block: expected base64 lines up to the END line",
                    line=_safe(line),
                    lineno=lineno,
                )
            if broken is not None:
                if not keep_going:
                    raise broken
                continue
            body.append((line, lineno))
    if label is not None:
        what = "private key block (not shown)" if _is_private(label) else f"PEM block {label!r}"
        raise ParseError(
            f"unterminated {what} (no END line)",
            line=_safe(begin_line),
            lineno=begin_no,
        )
    if blocks == 0 and first_text is not None:
        line, lineno = first_text
        raise ParseError(
            "no PEM block found (expected -----BEGIN CERTIFICATE-----)", line=_safe(line), lineno=lineno
        )
    return parsed


def _load_der(body: list[tuple[str, int]], begin_line: str, begin_no: int, x509: Any) -> Certificate:
    joined = "".join(line for line, _ in body)
    try:
        der = base64.b64decode(joined, validate=True)
    except (binascii.Error, ValueError) as exc:
        last, last_no = body[-1] if body else (begin_line, begin_no)
        raise ParseError(
            f"bad base64 in CERTIFICATE block ({exc})", line=_safe(last), lineno=last_no
        ) from None
    try:
        cert: Certificate = x509.load_der_x509_certificate(der)
        openssl_name(cert.subject)
        openssl_name(cert.issuer)
    except (ValueError, TypeError, x509.InvalidVersion) as exc:
        raise ParseError(
            f"CERTIFICATE block is not a valid X.509 certificate ({exc})", line=begin_line, lineno=begin_no
        ) from None
    return cert


def load_certificates(pem_text: str | bytes) -> list[Certificate]:
    """The certificates in ``pem_text``, in order (private keys skipped unread)."""
    return [cert for cert, _ in parse_pem(pem_text).certificates]


def fingerprint(cert: Certificate) -> str:
    """SHA-256 of the DER bytes, upper-case colon-separated hex (as ``openssl x509 -fingerprint``)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _is_ca(cert: Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def cert_record(cert: Certificate, *, cluster: str = "", secret: str = "", key: str = "") -> dict[str, Any]:
    """One ``certs`` row for ``cert``."""
    try:
        is_ca = _is_ca(cert)
    except ValueError as exc:  # a malformed or duplicated extension
        raise ParseError(f"certificate extensions could not be read ({exc})") from None
    return {
        "cluster": cluster,
        "secret": secret,
        "key": key,
        "subject": openssl_name(cert.subject),
        "issuer": openssl_name(cert.issuer),
        "serial": format(cert.serial_number, "X"),
        "sha256": fingerprint(cert),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "is_ca": is_ca,
    }


def certs_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A ``certs`` DataFrame from :func:`cert_record` rows."""
    from meshnb.schemas import frame

    return frame("certs", records)


def read_certs(pem_text: str | bytes, *, cluster: str = "", secret: str = "", key: str = "") -> pd.DataFrame:
    """Every certificate in what the user has, as a ``certs`` DataFrame (one row each, in order).

    Reads PEM text; the base64 string that ``kubectl get secret cacerts -o
    jsonpath='{.data.root-cert\\.pem}'`` prints (what the guide's ``diff`` compares); and a whole
    secret as ``kubectl get secret -o yaml`` or ``-o json`` prints it (every data key read, rows keyed
    by it; a private key's value, ``ca-key.pem`` or ``tls.key``, is never decoded:
    ``df.attrs["keys_not_read"]`` names those keys). Private key blocks in PEM give no row;
    ``df.attrs["private_keys_skipped"]`` counts them, and text holding only private keys is refused
    (meshnb never reads keys). In a bundle, a certificate block that does not read (bad base64, not
    X.509) is skipped and the others are read: ``df.attrs["broken_blocks"]`` lists each (``key``,
    ``begin_line``, the failing ``lineno`` and ``line``, ``error``) and a warning is logged on the
    ``meshnb`` logger. When no certificate reads, or the PEM is truncated or garbage, it raises
    :class:`meshnb.errors.ParseError` naming the line.

    >>> pem = '''-----BEGIN CERTIFICATE-----
    ... MIIBRDCB7KADAgECAgEdMAoGCCqGSM49BAMCMCIxDjAMBgNVBAoMBUlzdGlvMRAw
    ... DgYDVQQDDAdSb290IENBMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFow
    ... IjEOMAwGA1UECgwFSXN0aW8xEDAOBgNVBAMMB1Jvb3QgQ0EwWTATBgcqhkjOPQIB
    ... BggqhkjOPQMBBwNCAAQm1BdoSItnxWX7XIuoQWu3N71oEpmELKx0+R6+HbWu9QJA
    ... 2f06FXEoXizDapzd21oKtla7V9d/uZfbeumin5iQoxMwETAPBgNVHRMBAf8EBTAD
    ... AQH/MAoGCCqGSM49BAMCA0cAMEQCIHi7K+t+d4Jzq3cige0xqxnvOKGN7T138l+h
    ... JFbABFuwAiBdp+JPRTbSg5JSUj+dVOYiwk250NA1exrtraYGlmrkvA==
    ... -----END CERTIFICATE-----'''
    >>> row = read_certs(pem, cluster="cluster1", key="root-cert.pem").iloc[0]
    >>> row["subject"], row["serial"], bool(row["is_ca"]), str(row["not_after"].date())
    ('CN=Root CA,O=Istio', '1D', True, '2036-01-01')
    >>> bundle = pem.replace("MIIBRDCB", "MIIB!DCB") + "\\n" + pem   # the first block broken
    >>> df = read_certs(bundle)
    >>> len(df), [(b["begin_line"], b["lineno"]) for b in df.attrs["broken_blocks"]]
    (1, [(1, 2)])
    """
    text = _to_text(pem_text)
    stripped = text.strip()
    if _SECRET_KIND.search(stripped):
        return _read_secret(stripped, cluster=cluster)
    if stripped and "-----BEGIN" not in stripped and _BASE64_TEXT.match(stripped):
        text = _from_base64(stripped)
    broken: list[dict[str, Any]] = []
    records, private_keys = _records(text, cluster=cluster, secret=secret, key=key, broken=broken)
    df = certs_frame(records)
    df.attrs["private_keys_skipped"] = private_keys
    df.attrs["broken_blocks"] = broken
    return df


def _records(
    text: str, *, cluster: str, secret: str, key: str, broken: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """``certs`` records of PEM text, and how many private key blocks it skipped (only keys: refused).

    A broken block among good ones is appended to ``broken`` (and logged); if no block reads, its
    error is raised.
    """
    parsed = parse_pem(text, keep_going=True)
    if parsed.broken and not parsed.certificates:
        raise parsed.broken[0][1]
    for begin_no, exc in parsed.broken:
        where = f"{key}: " if key else ""
        log.warning("%sthe certificate block at line %d did not read: %s", where, begin_no, exc)
        broken.append(
            {
                "key": key,
                "begin_line": begin_no,
                "lineno": exc.lineno,
                "line": exc.line,
                "error": exc.args[0] if exc.args else str(exc),
            }
        )
    if parsed.private_keys and not parsed.certificates:
        raise ParseError(
            f"this holds only a private key ({parsed.private_keys} block(s)) and no certificate: meshnb "
            "never reads keys; give it root-cert.pem, ca-cert.pem or cert-chain.pem"
        )
    records = [cert_record(cert, cluster=cluster, secret=secret, key=key) for cert, _ in parsed.certificates]
    return records, parsed.private_keys


#: The start of ``kubectl get secret -o yaml`` / ``-o json`` output.
_SECRET_KIND = re.compile(r'^[ \t]*(?:kind:[ \t]*Secret|"kind"[ \t]*:[ \t]*"Secret",?)[ \t]*\r?$', re.M)
#: One base64 string, maybe wrapped over lines (no spaces inside a line, as kubectl and base64 print it).
_BASE64_TEXT = re.compile(r"^(?=[\s\S]{16})(?:[A-Za-z0-9+/]+={0,2}[ \t]*(?:\r?\n|$))+$")
#: Data keys whose values are private keys: named, never decoded.
_KEY_NAMES = re.compile(r"(?:^|[-_.])key(?:\.pem)?$", re.I)


def _from_base64(text: str) -> str:
    """The PEM text a base64 string (a secret's data value, as kubectl prints it) stands for."""
    joined = "".join(text.split())
    try:
        head = base64.b64decode(joined[:64], validate=True)  # the BEGIN line only, to see what it is
        label = _BEGIN.match(head.decode("ascii", "replace").split("\n", 1)[0].strip())
        if label and _is_private(label.group(1)):
            raise ParseError(
                "base64 of a private key: not decoded (meshnb never reads keys); give it root-cert.pem, "
                "ca-cert.pem or cert-chain.pem",
                line=_REDACTED,
                lineno=1,
            )
        decoded = base64.b64decode(joined, validate=True)
    except binascii.Error:
        raise ParseError(
            "neither PEM nor base64 of PEM (the base64 does not decode)", line=_REDACTED, lineno=1
        ) from None
    if b"-----BEGIN " not in decoded[:4096]:
        raise ParseError(
            "base64 that does not decode to PEM (expected a secret's root-cert.pem, ca-cert.pem or "
            "cert-chain.pem value)",
            line=_REDACTED,
            lineno=1,
        )
    return _to_text(decoded)


def _read_secret(text: str, *, cluster: str) -> pd.DataFrame:
    """Each certificate key of a Secret manifest (YAML or JSON); private keys named, never decoded."""
    import yaml

    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(f"a Secret that is not readable YAML or JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("data") or {}, dict):
        raise ParseError("a Secret without a data map")
    metadata = manifest.get("metadata")
    name = str(metadata.get("name") or "") if isinstance(metadata, dict) else ""
    records: list[dict[str, Any]] = []
    not_read: list[str] = []
    broken: list[dict[str, Any]] = []
    skipped = 0
    for data_key, value in sorted((manifest.get("data") or {}).items()):
        if _KEY_NAMES.search(str(data_key)):
            not_read.append(str(data_key))
            continue
        if not isinstance(value, str):
            raise ParseError(f"the Secret's data key {data_key!r} does not hold a base64 string")
        try:
            found, keys = _records(
                _from_base64(value), cluster=cluster, secret=name, key=str(data_key), broken=broken
            )
        except ParseError as exc:
            raise ParseError(f"the Secret's data key {data_key!r}: {exc}") from None
        records += found
        skipped += keys
    df = certs_frame(records)
    df.attrs["private_keys_skipped"] = skipped
    df.attrs["keys_not_read"] = not_read
    df.attrs["broken_blocks"] = broken
    return df


# --------------------------------------------------------------------------------------------------
# Names as ``openssl x509 -noout -subject -nameopt RFC2253`` prints them (OpenSSL 3's XN_FLAG_RFC2253)

#: OpenSSL's short names (``OBJ_nid2sn``) of the attribute types a certificate name may carry.
_OPENSSL_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.16": "postalAddress",
    "2.5.4.17": "postalCode",
    "2.5.4.18": "postOfficeBox",
    "2.5.4.20": "telephoneNumber",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.51": "houseIdentifier",
    "2.5.4.54": "dmdName",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.3": "mail",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.7": "challengePassword",
    "1.2.840.113549.1.9.8": "unstructuredAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
    "1.2.643.3.131.1.1": "INN",
    "1.2.643.100.1": "OGRN",
    "1.2.643.100.3": "SNILS",
}
_RFC2253_SPECIAL = frozenset(',+"\\<>;')
#: How each ASN.1 string type holds its characters (for the ``#hex`` dump of an unknown type).
_STRING_CODECS = {30: "utf-16-be", 28: "utf-32-be", 12: "utf-8"}


def _openssl_value(value: str) -> str:
    """An attribute value escaped as OpenSSL's RFC 2253 output does it.

    ``,+"\\<>;`` and a leading ``#`` or space, or a trailing space, get a backslash; control characters
    and every byte of a non-ASCII character's UTF-8 get ``\\XX`` (upper-case hex).

    >>> _openssl_value("#Café a,b ")
    '\\\\#Caf\\\\C3\\\\A9 a\\\\,b\\\\ '
    """
    data = value.encode("utf-8", "replace")
    last = len(data) - 1
    out = []
    for i, byte in enumerate(data):
        ch = chr(byte)
        if byte >= 0x7F or byte < 0x20:
            out.append(f"\\{byte:02X}")
        elif ch in _RFC2253_SPECIAL or (i == 0 and ch in "# ") or (i == last and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _der_dump(attribute: Any) -> str:
    """``#`` and the DER of a value of an attribute type OpenSSL has no name for (its DUMP_UNKNOWN)."""
    value = attribute.value
    tag = getattr(getattr(attribute, "_type", None), "value", 12)
    body = value if isinstance(value, bytes) else value.encode(_STRING_CODECS.get(tag, "latin-1"), "replace")
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return "#" + (bytes([tag]) + length + body).hex().upper()


def openssl_name(name: Any) -> str:
    """A certificate name as ``openssl x509 -noout -subject -nameopt RFC2253`` prints it (no ``subject=``).

    Like RFC 4514 (most specific part first), with OpenSSL's attribute names (``emailAddress``,
    ``serialNumber``, ``street``...), its escaping, and ``OID=#hex`` for a type OpenSSL does not know.

    >>> from cryptography import x509
    >>> from cryptography.x509.oid import NameOID
    >>> openssl_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ...     x509.NameAttribute(NameOID.EMAIL_ADDRESS, "testrootca@istio.io")]))
    'emailAddress=testrootca@istio.io,C=US'
    """
    parts: list[str] = []
    for rdn in reversed(name.rdns):
        attributes = list(rdn)
        items = []
        for attribute in reversed(attributes):
            dotted = attribute.oid.dotted_string
            short = _OPENSSL_NAMES.get(dotted)
            if short is None:
                items.append(f"{dotted}={_der_dump(attribute)}")
            elif isinstance(attribute.value, bytes):
                items.append(f"{short}={_der_dump(attribute)}")
            else:
                items.append(f"{short}={_openssl_value(attribute.value)}")
        parts.append("+".join(items))
    return ",".join(parts)


def is_issued_by(cert: Certificate, issuer: Certificate) -> bool:
    """True if ``issuer``'s name matches ``cert``'s issuer and its key verifies ``cert``'s signature.

    Works for RSA (PKCS#1 v1.5 and PSS), ECDSA, Ed25519 and Ed448 issuers; any failure is False.

    >>> from meshnb.backends.sim.pki import SimPKI
    >>> pki = SimPKI(seed=0)
    >>> ca, root = load_certificates(pki.cacerts("cluster1", "root")["cert-chain.pem"])
    >>> other_root = load_certificates(pki.cacerts("cluster1", "alt")["root-cert.pem"])[0]
    >>> is_issued_by(ca, root), is_issued_by(ca, other_root)   # same subject, different key
    (True, False)
    """
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_self_signed(cert: Certificate) -> bool:
    """True for a certificate that signs itself (a root)."""
    return is_issued_by(cert, cert)


def _walk(
    cert: Certificate, pool: Sequence[Certificate], stop: Callable[[Certificate], bool]
) -> Iterator[Certificate]:
    """Certificates on the issuer paths from ``cert`` (itself first) through ``pool``, each once.

    It yields those where ``stop`` holds and goes no further up from them.
    """
    frontier, seen = [cert], set()
    while frontier:
        current = frontier.pop()
        fp = fingerprint(current)
        if fp in seen:
            continue
        seen.add(fp)
        if stop(current):
            yield current
            continue
        frontier += [c for c in pool if fingerprint(c) not in seen and is_issued_by(current, c)]


def chains_to(
    cert: Certificate, anchors: Sequence[Certificate], intermediates: Sequence[Certificate] = ()
) -> bool:
    """True if ``cert`` chains, through any of ``intermediates``, to one of the trust ``anchors``.

    A path ends at an anchor that is the certificate itself (same SHA-256) or that signed it. Only
    names and signatures are checked (not validity dates: expiry is reported on its own).
    """
    anchor_fps = {fingerprint(a) for a in anchors}

    def anchored(current: Certificate) -> bool:
        return fingerprint(current) in anchor_fps or any(is_issued_by(current, a) for a in anchors)

    return any(True for _ in _walk(cert, intermediates, anchored))


def chain_roots(cert: Certificate, pool: Sequence[Certificate]) -> list[Certificate]:
    """The self-signed certificates in ``pool`` that ``cert``'s chain (built from ``pool``) ends in.

    ``cert`` itself counts when it is self-signed. Several roots come back when the chain forks
    (a cross-signed intermediate); none when it ends at a certificate whose issuer is not in ``pool``.
    """
    return list(_walk(cert, pool, is_self_signed))


def not_after_min(certs: Iterable[Certificate]) -> dt.datetime | None:
    """The earliest expiry among ``certs`` (None if there are none)."""
    return min((c.not_valid_after_utc for c in certs), default=None)
