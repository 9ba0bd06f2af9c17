"""Certificates and the trust check: Istio's sample plug-in CA files and the simulated mesh.

Reference files are Istio's ``samples/certs`` (see ../shared/reference-data/README.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import ssl
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import meshnb
from meshnb.backends.base import SecretData
from meshnb.diagnostics.finding import commands_in
from meshnb.diagnostics.trust import check_trust
from meshnb.errors import NotFound, ParseError
from meshnb.readers.certs import (
    chain_roots,
    chains_to,
    fingerprint,
    is_issued_by,
    is_self_signed,
    load_certificates,
    parse_pem,
    read_certs,
)
from meshnb.schemas import SCHEMAS

# as `openssl x509 -noout -subject -nameopt RFC2253` prints it (tests/data/real/certs/*.openssl.txt)
SAMPLE_ROOT = "emailAddress=testrootca@istio.io,CN=Root CA,OU=Test,O=Istio,L=Sunnyvale,ST=California,C=US"
SAMPLE_CA = "CN=Istio CA,O=Istio,L=Sunnyvale,ST=California,C=US"
ALT_ROOT = "CN=Root CA,O=Istio"

# file -> [(subject, issuer, is_ca)] in order
EXPECTED = {
    "root-cert.pem": [(SAMPLE_ROOT, SAMPLE_ROOT, True)],
    "ca-cert.pem": [(SAMPLE_CA, SAMPLE_ROOT, True)],
    "cert-chain.pem": [(SAMPLE_CA, SAMPLE_ROOT, True)],
    "root-cert-alt.pem": [(ALT_ROOT, ALT_ROOT, True)],
    "ca-cert-alt.pem": [("L=cluster1,CN=Intermediate CA,O=Istio", ALT_ROOT, True)],
    "cert-chain-alt.pem": [
        ("L=cluster1,CN=Intermediate CA,O=Istio", ALT_ROOT, True),
        (ALT_ROOT, ALT_ROOT, True),
    ],
    "ca-cert-alt-2.pem": [("L=cluster2,CN=Intermediate CA,O=Istio", ALT_ROOT, True)],
    "cert-chain-alt-2.pem": [
        ("L=cluster2,CN=Intermediate CA,O=Istio", ALT_ROOT, True),
        (ALT_ROOT, ALT_ROOT, True),
    ],
    "root-cert-combined.pem": [(SAMPLE_ROOT, SAMPLE_ROOT, True), (ALT_ROOT, ALT_ROOT, True)],
}
PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


@pytest.fixture(scope="module")
def certs_dir(reference: Path) -> Path:
    return reference / "istio" / "certs"


def _files(certs_dir: Path, **names: str) -> dict[str, bytes]:
    """A cacerts secret's data from reference files: key=file (underscores for dashes in keys)."""
    return {key.replace("_", "-") + ".pem": (certs_dir / f).read_bytes() for key, f in names.items()}


def _key_body_lines(key_pem: bytes) -> list[bytes]:
    return [line for line in key_pem.splitlines() if line and not line.startswith(b"-----")]


# ---- read_certs on every reference file ----


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_read_certs_reference_files(certs_dir: Path, name: str) -> None:
    text = (certs_dir / name).read_text()
    df = read_certs(text, cluster="c1", secret="cacerts", key=name)
    assert list(df.columns) == list(SCHEMAS["certs"])
    assert [tuple(r) for r in df[["subject", "issuer", "is_ca"]].itertuples(index=False)] == EXPECTED[name]
    assert set(df["cluster"]) == {"c1"} and set(df["key"]) == {name} and set(df["secret"]) == {"cacerts"}
    # fingerprints computed independently: stdlib PEM->DER, then hashlib
    ders = [ssl.PEM_cert_to_DER_cert(block) for block in PEM_BLOCK.findall(text)]
    expected = [":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) for der in ders]
    assert df["sha256"].tolist() == expected
    assert str(df["not_before"].dtype) == "datetime64[ns, UTC]"
    assert (df["not_before"] < df["not_after"]).all()
    assert all(re.fullmatch(r"[0-9A-F]+", s) for s in df["serial"])
    # bytes in, same rows out
    pd.testing.assert_frame_equal(df, read_certs(text.encode(), cluster="c1", secret="cacerts", key=name))


def test_reference_dates_and_serials(certs_dir: Path) -> None:
    df = read_certs((certs_dir / "ca-cert.pem").read_bytes())
    assert df["not_after"][0] == pd.Timestamp("2117-12-31 19:15:51", tz="UTC")
    alt = read_certs((certs_dir / "root-cert-alt.pem").read_bytes())
    assert alt["not_after"][0] == pd.Timestamp("2033-12-08 16:24:36", tz="UTC")
    cert = load_certificates((certs_dir / "ca-cert.pem").read_bytes())[0]
    assert int(df["serial"][0], 16) == cert.serial_number


def test_combined_bundle_has_two_roots(certs_dir: Path) -> None:
    combined = read_certs((certs_dir / "root-cert-combined.pem").read_bytes())
    roots = [
        read_certs((certs_dir / f).read_bytes())["sha256"][0] for f in ("root-cert.pem", "root-cert-alt.pem")
    ]
    assert len(combined) == 2 and combined["sha256"].tolist() == roots
    assert all(
        is_self_signed(c) for c in load_certificates((certs_dir / "root-cert-combined.pem").read_bytes())
    )


def test_chain_relations(certs_dir: Path) -> None:
    def one(name: str):
        return load_certificates((certs_dir / name).read_bytes())[0]

    root, alt = one("root-cert.pem"), one("root-cert-alt.pem")
    assert fingerprint(root) != fingerprint(alt)
    assert is_issued_by(one("ca-cert.pem"), root) and not is_issued_by(one("ca-cert.pem"), alt)
    for name in ("ca-cert-alt.pem", "ca-cert-alt-2.pem"):
        assert is_issued_by(one(name), alt) and not is_issued_by(one(name), root)
    assert not is_self_signed(one("ca-cert.pem")) and is_self_signed(root)
    pool = [root, alt]
    assert [fingerprint(r) for r in chain_roots(one("ca-cert.pem"), pool)] == [fingerprint(root)]
    chain = load_certificates((certs_dir / "cert-chain-alt-2.pem").read_bytes())
    assert [fingerprint(r) for r in chain_roots(chain[0], chain)] == [fingerprint(alt)]
    assert chain_roots(chain[0], []) == []
    combined = load_certificates((certs_dir / "root-cert-combined.pem").read_bytes())
    assert chains_to(one("ca-cert.pem"), combined) and chains_to(chain[0], combined)
    assert not chains_to(one("ca-cert.pem"), [alt])
    assert chains_to(alt, [alt])  # an anchor is trusted as itself


def test_sim_ed25519_chain() -> None:
    pki = meshnb.simulate().pki
    ca, root = load_certificates(pki.cacerts("cluster1", "root")["cert-chain.pem"])
    other = load_certificates(pki.cacerts("cluster1", "alt")["root-cert.pem"])[0]
    assert is_issued_by(ca, root) and not is_issued_by(ca, other)
    assert root.subject == other.subject  # same name, different key: only a signature check tells


@pytest.mark.parametrize("key_file", ["reference", "sim"])
def test_private_key_is_skipped_and_never_echoed(certs_dir: Path, key_file: str) -> None:
    if key_file == "reference":
        key = (certs_dir / "ca-key.pem").read_bytes()
    else:
        key = meshnb.simulate().pki.cacerts("cluster1", "root")["ca-key.pem"]
    assert b"PRIVATE KEY" in key
    with pytest.raises(ParseError, match="only a private key"):  # refused: meshnb never reads keys
        read_certs(key)
    mixed = (certs_dir / "ca-cert.pem").read_bytes() + key + (certs_dir / "root-cert.pem").read_bytes()
    df = read_certs(mixed, key="mixed")
    assert df.attrs["private_keys_skipped"] == 1
    assert df["subject"].tolist() == [SAMPLE_CA, SAMPLE_ROOT]
    text = df.to_json(date_format="iso") + df.to_html() + repr(df)
    assert "PRIVATE" not in text
    for line in _key_body_lines(key):
        assert line.decode() not in text


# ---- garbage and truncated input ----


def test_garbage_raises_parse_error_with_the_line() -> None:
    with pytest.raises(ParseError) as info:
        read_certs("hello\nthis is not a certificate\n")
    assert info.value.lineno == 1 and info.value.line == "hello"
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_truncated_pem(certs_dir: Path) -> None:
    lines = (certs_dir / "root-cert.pem").read_text().splitlines()
    with pytest.raises(ParseError, match="unterminated") as info:
        read_certs("\n".join(lines[:10]))
    assert info.value.lineno == 1 and info.value.line == "-----BEGIN CERTIFICATE-----"
    # body cut short but END present: not a certificate
    with pytest.raises(ParseError) as info:
        read_certs("\n".join([*lines[:10], lines[-1]]))
    assert info.value.lineno is not None


def test_bad_base64_line(certs_dir: Path) -> None:
    lines = (certs_dir / "root-cert.pem").read_text().splitlines()
    lines[4] = "this line is !!! not base64"
    with pytest.raises(ParseError, match="not base64") as info:
        read_certs("\n".join(lines))
    assert (info.value.lineno, info.value.line) == (5, "this line is !!! not base64")


def test_not_a_certificate() -> None:
    with pytest.raises(ParseError, match=r"not a valid X\.509"):
        read_certs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ParseError, match="END line"):
        read_certs("-----END CERTIFICATE-----\n")
    with pytest.raises(ParseError, match="does not match"):
        read_certs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(ParseError, match="non-ASCII"):
        read_certs(b"\x30\x82\x03\xed\xff\xfe")


def test_truncated_private_key_error_hides_the_key(certs_dir: Path) -> None:
    key = (certs_dir / "ca-key.pem").read_bytes()
    truncated = key.splitlines()[:12]
    for text in (b"\n".join(truncated), (certs_dir / "ca-cert.pem").read_bytes() + b"\n".join(truncated)):
        with pytest.raises(ParseError) as info:
            parse_pem(text)
        message = str(info.value)
        assert "PRIVATE" not in message
        assert not any(line.decode() in message for line in _key_body_lines(key))
    # a key body with no BEGIN line is not quoted either
    with pytest.raises(ParseError) as info:
        parse_pem(b"\n".join(_key_body_lines(key)))
    assert _key_body_lines(key)[0].decode() not in str(info.value)


def test_files_glued_without_newline(certs_dir: Path) -> None:
    # root-cert-combined.pem has no final newline: `cat root-cert-combined.pem ca-key.pem` glues the lines
    glued = (certs_dir / "root-cert-combined.pem").read_bytes() + (certs_dir / "ca-key.pem").read_bytes()
    with pytest.raises(ParseError, match="without a newline") as info:
        read_certs(glued)
    assert info.value.lineno == 54 and "PRIVATE" not in str(info.value)


def test_empty_text_is_no_certificates() -> None:
    assert len(read_certs("")) == 0 and len(read_certs("\n\n")) == 0


# ---- check_trust on the simulated mesh ----


def test_healthy_passes() -> None:
    finding = check_trust(meshnb.simulate())
    assert finding.status == "pass", finding.summary
    assert finding.check == "trust" and finding.next_steps == []
    trust = finding.evidence["trust"]
    assert trust.columns.tolist() == ["presented_by", "cluster1", "cluster2"]
    assert trust[["cluster1", "cluster2"]].to_numpy().tolist() == [[True, True], [True, True]]
    clusters = finding.evidence["clusters"]
    assert clusters["status"].tolist() == ["pass", "pass"]
    assert clusters["root_sha256"][0] == clusters["root_sha256"][1]
    assert clusters["private_key"].tolist() == ["present (not read)"] * 2
    certs = finding.evidence["certs"]
    assert list(certs.columns) == list(SCHEMAS["certs"])
    assert set(certs["key"]) == {"root-cert.pem", "ca-cert.pem", "cert-chain.pem"}


def test_trust_mismatch_fails_naming_both_clusters() -> None:
    finding = check_trust(meshnb.simulate("trust-mismatch"))
    assert finding.status == "fail"
    assert "cluster1" in finding.summary and "cluster2" in finding.summary
    assert "different keys" in finding.summary  # same subject, different root
    trust = finding.evidence["trust"].set_index("presented_by")
    assert not trust.loc["cluster1", "cluster2"] and not trust.loc["cluster2", "cluster1"]
    assert trust.loc["cluster1", "cluster1"] and trust.loc["cluster2", "cluster2"]
    assert any("Trust configuration" in s and "plugin-ca-cert" in s for s in finding.next_steps)
    commands = [c for step in finding.next_steps for c in commands_in(step)]
    (diff,) = [c for c in commands if c.startswith("diff ")]  # the guide's diff of the two roots
    assert diff.count("--context=cluster1 -n istio-system get secret cacerts") == 1
    assert diff.count("--context=cluster2 -n istio-system get secret cacerts") == 1
    for cluster in ("cluster1", "cluster2"):  # both got certificates of their own root: both restart
        assert f"kubectl --context={cluster} -n istio-system rollout restart deployment/istiod" in commands


def test_missing_cacerts_fails_self_signed() -> None:
    finding = check_trust(meshnb.simulate(missing_cacerts="cluster2"))
    assert finding.status == "fail"
    assert "self-signed" in finding.summary and "no shared trust" in finding.summary
    assert finding.summary.startswith("cluster2:")  # the cause first
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert clusters.loc["cluster2", "status"] == "fail"
    assert clusters.loc["cluster2", "private_key"] == "absent"
    trust = finding.evidence["trust"].set_index("presented_by")
    assert not trust.loc["cluster1", "cluster2"] and not trust.loc["cluster2", "cluster1"]
    assert "cluster2" not in set(finding.evidence["certs"]["cluster"])
    create = (
        "`kubectl --context=cluster2 -n istio-system create secret generic cacerts --from-file=ca-cert.pem"
    )
    assert any(create in s for s in finding.next_steps)
    assert not any("diff <(" in s for s in finding.next_steps)  # cluster2 has no root to compare


def test_unreachable_cluster_is_an_error_row() -> None:
    finding = check_trust(meshnb.simulate(unreachable="cluster2"))
    assert finding.status == "error"
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert clusters.loc["cluster2", "status"] == "error"
    assert "unreachable" in clusters.loc["cluster2", "detail"]
    assert clusters.loc["cluster1", "status"] == "pass"
    certs = finding.evidence["certs"]
    assert set(certs["cluster"]) == {"cluster1"} and len(certs) == 4
    trust = finding.evidence["trust"].set_index("presented_by")
    assert trust.loc["cluster1", "cluster1"] is True or bool(trust.loc["cluster1", "cluster1"])
    assert pd.isna(trust.loc["cluster1", "cluster2"]) and pd.isna(trust.loc["cluster2", "cluster1"])


def test_validation() -> None:
    mesh = meshnb.simulate()
    with pytest.raises(meshnb.InvalidName):
        check_trust(mesh, namespace="Bad Namespace")
    with pytest.raises(ValueError, match="soon_days"):
        check_trust(mesh, soon_days=-1)
    with pytest.raises(TypeError):
        check_trust(mesh, now="2026-01-01")  # type: ignore[arg-type]


def test_progress_and_json_round_trip() -> None:
    seen = []
    finding = check_trust(meshnb.simulate(), progress=lambda *args: seen.append(args))
    assert ("cluster1", 1, 1) in seen and ("cluster2", 1, 1) in seen
    again = meshnb.Finding.from_json(finding.to_json())
    assert again.status == "pass"
    pd.testing.assert_frame_equal(again.evidence["certs"], finding.evidence["certs"])


# ---- check_trust on Istio's reference files, served by a stub cluster ----


class RefCluster:
    """A sim cluster whose ``read_secret`` serves given files (None: the secret does not exist)."""

    def __init__(self, inner, files: dict[str, bytes] | None):
        self._inner = inner
        self.name = inner.name
        self.files = files
        self.read_keys: list[str] = []

    def __getattr__(self, attr):
        return getattr(self._inner, attr)

    def read_secret(self, namespace: str, name: str) -> SecretData:
        if self.files is None:
            raise NotFound(self.name, f'secrets "{name}" not found in namespace {namespace}')
        return SecretData(self.files)


def _mesh(**clusters: dict[str, bytes] | None):
    sim = meshnb.simulate(clusters=len(clusters))
    names = sorted(sim.clusters)
    return SimpleNamespace(
        clusters={
            name: RefCluster(sim.clusters[name], files)
            for name, files in zip(names, clusters.values(), strict=True)
        }
    )


def _plain(certs_dir: Path, root: str = "root-cert.pem") -> dict[str, bytes]:
    return _files(
        certs_dir, root_cert=root, ca_cert="ca-cert.pem", cert_chain="cert-chain.pem", ca_key="ca-key.pem"
    )


def _alt(certs_dir: Path, n: str = "-2", root: str = "root-cert-alt.pem") -> dict[str, bytes]:
    return _files(
        certs_dir,
        root_cert=root,
        ca_cert=f"ca-cert-alt{n}.pem",
        cert_chain=f"cert-chain-alt{n}.pem",
        ca_key="ca-key.pem",
    )


NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


def test_reference_shared_root_passes(certs_dir: Path) -> None:
    finding = check_trust(_mesh(a=_alt(certs_dir, ""), b=_alt(certs_dir)), now=NOW)
    assert finding.status == "pass", finding.summary


def test_reference_mismatch_fails(certs_dir: Path) -> None:
    finding = check_trust(_mesh(a=_plain(certs_dir), b=_alt(certs_dir)), now=NOW)
    assert finding.status == "fail"
    assert "different subjects" in finding.summary
    assert finding.evidence["trust"][["cluster1", "cluster2"]].to_numpy().tolist() == [
        [True, False],
        [False, True],
    ]


def test_combined_root_bundle_warns(certs_dir: Path) -> None:
    combined = "root-cert-combined.pem"
    finding = check_trust(_mesh(a=_plain(certs_dir, combined), b=_alt(certs_dir, root=combined)), now=NOW)
    assert finding.status == "warn", finding.summary
    assert "2 roots" in finding.summary and "migrat" in finding.summary and "shared with" in finding.summary
    assert finding.evidence["trust"][["cluster1", "cluster2"]].to_numpy().all()
    assert finding.evidence["clusters"]["roots"].tolist() == [2, 2]
    certs = finding.evidence["certs"]
    assert len(certs[(certs["cluster"] == "cluster1") & (certs["key"] == "root-cert.pem")]) == 2
    assert any("several roots" in s for s in finding.next_steps)


def test_half_migrated_bundle_fails(certs_dir: Path) -> None:
    # cluster1 trusts both roots, cluster2 only the new one: cluster1's old-root certs are rejected
    finding = check_trust(_mesh(a=_plain(certs_dir, "root-cert-combined.pem"), b=_alt(certs_dir)), now=NOW)
    assert finding.status == "fail"
    trust = finding.evidence["trust"].set_index("presented_by")
    assert not trust.loc["cluster1", "cluster2"] and trust.loc["cluster2", "cluster1"]
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert "cluster2 does not trust its certificates" in clusters.loc["cluster1", "detail"]
    assert "does not trust cluster1's certificates" in clusters.loc["cluster2", "detail"]


def test_soon_expiring_warns_and_expired_fails(certs_dir: Path) -> None:
    mesh = _mesh(a=_alt(certs_dir, ""), b=_alt(certs_dir))
    soon = check_trust(mesh, now=dt.datetime(2033, 11, 20, tzinfo=dt.UTC), soon_days=30)
    assert soon.status == "warn" and "expires in" in soon.summary
    assert any("Rotate" in s for s in soon.next_steps)
    assert check_trust(mesh, now=dt.datetime(2033, 11, 20), soon_days=7).status == "pass"  # naive = UTC
    expired = check_trust(mesh, now=dt.datetime(2034, 1, 1, tzinfo=dt.UTC))
    assert expired.status == "fail" and "expired on 2033-12-08" in expired.summary
    early = check_trust(mesh, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert early.status == "fail" and "not valid before" in early.summary


def test_missing_secret_and_incomplete_secret(certs_dir: Path) -> None:
    finding = check_trust(_mesh(a=_plain(certs_dir), b=None), now=NOW)
    assert finding.status == "fail" and "self-signed" in finding.summary
    no_root = _plain(certs_dir)
    del no_root["root-cert.pem"]
    finding = check_trust(_mesh(a=_plain(certs_dir), b=no_root), now=NOW)
    assert finding.status == "fail" and "no root-cert.pem" in finding.summary
    assert finding.evidence["trust"]["cluster2"].isna().tolist() == [True, True]


def test_corrupt_cert_key_is_a_fail_row_not_an_exception(certs_dir: Path) -> None:
    corrupt = _plain(certs_dir)
    corrupt["ca-cert.pem"] = corrupt["ca-cert.pem"][:300]
    finding = check_trust(_mesh(a=_plain(certs_dir), b=corrupt), now=NOW)
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert clusters.loc["cluster2", "status"] == "fail"
    assert "ca-cert.pem could not be parsed" in clusters.loc["cluster2", "detail"]


def test_private_key_is_never_read_nor_shown(certs_dir: Path) -> None:
    key = (certs_dir / "ca-key.pem").read_bytes()
    reads: list[str] = []

    class Spy(SecretData):
        def __getitem__(self, item: str) -> bytes:
            reads.append(item)
            return super().__getitem__(item)

    class SpyCluster(RefCluster):
        def read_secret(self, namespace: str, name: str) -> SecretData:
            return Spy(self.files or {})

    sim = meshnb.simulate()
    sim_key = sim.pki.cacerts("cluster1", "root")["ca-key.pem"]
    # a key block pasted into root-cert.pem too: skipped, counted, never shown
    leaky = _plain(certs_dir, "root-cert-combined.pem")
    leaky["root-cert.pem"] = leaky["root-cert.pem"] + b"\n" + key
    mesh = SimpleNamespace(
        clusters={
            "cluster1": SpyCluster(sim.clusters["cluster1"], leaky),
            "cluster2": sim.clusters["cluster2"],
        }
    )
    finding = check_trust(mesh, now=NOW)
    assert "ca-key.pem" not in reads
    outputs = [finding.to_json(), finding._repr_html_(), str(finding), repr(finding.details)]
    for out in outputs:
        assert "PRIVATE KEY" not in out
        for pem in (key, sim_key):
            for line in _key_body_lines(pem):
                assert line.decode() not in out
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert "private key block (skipped, not read)" in clusters.loc["cluster1", "detail"]
    for name in ("scenario", "missing", "unreachable"):
        mesh_ = {
            "scenario": meshnb.simulate("trust-mismatch"),
            "missing": meshnb.simulate(missing_cacerts="cluster2"),
            "unreachable": meshnb.simulate(unreachable="cluster1"),
        }[name]
        f = check_trust(mesh_)
        for out in (f.to_json().encode(), f._repr_html_().encode()):
            assert b"PRIVATE KEY" not in out
            for cluster in ("cluster1", "cluster2"):
                body = base64.b64encode(
                    base64.b64decode(
                        b"".join(_key_body_lines(mesh_.pki.cacerts(cluster, "root")["ca-key.pem"]))
                    )
                )
                assert body not in out and body[:40] not in out
