"""Parsers never crash on garbage: random, mixed and truncated input gives rows or a ParseError.

The rule (from the project's issue): property-based tests feed every parser random and truncated
input; the only exception a parser may raise is :class:`meshnb.errors.ParseError`, carrying the line
that failed. Real pieces come from the shared reference data (Envoy's error bodies, Istio's sample
certificates and key) and from the simulator (a real batched curl output).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import traceback
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import meshnb
from meshnb.backends.base import Secret, SecretData
from meshnb.backends.sim.curl import fill_write_out
from meshnb.diagnostics.remote_secrets import ANNOTATION, describe_remote_secret
from meshnb.errors import ParseError
from meshnb.readers import certs
from meshnb.readers.certs import parse_pem, read_certs
from meshnb.readers.curl import (
    CURL_MARKER,
    CURL_WRITE_OUT,
    ERROR_KINDS,
    Transfer,
    classify_error,
    parse_curl_batch,
    parse_hello,
)
from meshnb.readers.istiod_log import parse_istiod_log
from meshnb.schemas import frame

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------------
# Real pieces, read once at import (hypothesis @given tests cannot take the `reference` fixture).

# read at import (hypothesis tests cannot take fixtures); the same place as tests/conftest.py's REFERENCE
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
ENVOY = REFERENCE / "envoy-1.40"
CERT_DIR = REFERENCE / "istio" / "certs"
URL = "http://helloworld.sample:5000/hello"


def _envoy_lines() -> list[str]:
    lines = []
    for path in sorted(ENVOY.glob("envoy-tls-errors*.txt")):
        lines += [line for line in path.read_text().splitlines() if line.strip()]
    return lines


def _real_batch(scenario: str, cluster: str = "cluster1", n: int = 6) -> str:
    """The stdout of one batched curl in the simulator, exactly as the load-balancing check runs it."""
    mesh = meshnb.simulate(scenario)
    pod = mesh.clusters[cluster].list_pods("sample", "app=curl")[0]
    argv = ["curl", "-s", "--max-time", "2", "--write-out", CURL_WRITE_OUT, *[URL] * n]
    return mesh.clusters[cluster].exec("sample", pod.name, argv).stdout


ENVOY_LINES = _envoy_lines()
BATCHES = {name: _real_batch(name) for name in ("healthy", "firewall", "trust-mismatch")}
BATCH_LINES = sorted({line for batch in BATCHES.values() for line in batch.splitlines()})
HELLO_LINES = sorted({line for line in BATCH_LINES if line.startswith("Hello version:")})

CERT_FILES = {path.name: path.read_text() for path in sorted(CERT_DIR.glob("*.pem"))}
KEY_TEXT = CERT_FILES.pop("ca-key.pem")
KEY_BODY = [line for line in KEY_TEXT.splitlines() if line and not line.startswith("-----")]
# Any 16 characters of the key's body in a message would be a leak (certs.py redacts runs of 16+).
KEY_GRAMS = {line[i : i + 16] for line in KEY_BODY for i in range(len(line) - 15)}


def test_real_pieces_are_there():
    assert len(ENVOY_LINES) >= 6
    assert all(CURL_MARKER in batch for batch in BATCHES.values())
    assert HELLO_LINES
    assert len(CERT_FILES) >= 9
    assert "PRIVATE KEY" in KEY_TEXT
    assert len(KEY_BODY) > 10


# --------------------------------------------------------------------------------------------------
# meshnb.readers.curl: parse_curl_batch, classify_error, parse_hello


def _check_error_line(text: str, err: ParseError) -> None:
    """A ParseError of parse_curl_batch names a line of the input and its 1-based number."""
    lines = text.splitlines()
    assert err.line is not None
    assert err.lineno is not None
    assert 1 <= err.lineno <= len(lines)
    assert lines[err.lineno - 1] == err.line
    assert err.line.startswith(CURL_MARKER + " ")


def _parse_or_error(text: str) -> list[Transfer] | ParseError:
    """parse_curl_batch's result, or the ParseError it raised (checked); anything else propagates."""
    try:
        transfers = parse_curl_batch(text)
    except ParseError as err:
        _check_error_line(text, err)
        return err
    assert isinstance(transfers, list)
    assert all(isinstance(t, Transfer) for t in transfers)
    return transfers


def _check_transfers(text: str, transfers: list[Transfer]) -> None:
    markers = [line for line in text.splitlines() if line.startswith(CURL_MARKER + " ")]
    assert len(transfers) == len(markers)  # one transfer per marker line, no more, no less
    for t in transfers:
        assert t.http_status is None or 1 <= t.http_status <= 999
        assert isinstance(t.body, str)
        assert isinstance(t.curl_error, str)
        kind = classify_error(t.http_status, t.body, t.curl_exit, t.curl_error)
        assert kind is None or kind in ERROR_KINDS
        parse_hello(t.body)


_no_newline = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=12)
_codes = st.one_of(st.sampled_from(["000", "200", "404", "503", "5O3", "20", "2000", ""]), _no_newline)
_seconds = st.one_of(
    st.floats(0, 100).map(lambda s: f"{s:.6f}"),
    st.sampled_from(["0,004512", "nan", "inf", "", "-", "1e3", "1_0"]),
    _no_newline,
)
_exitcodes = st.one_of(st.sampled_from(["0", "6", "7", "28", "35", "52", "56", "", "x"]), _no_newline)
_errormsgs = st.one_of(
    st.sampled_from(["", "Operation timed out after 2001 milliseconds with 0 bytes received"]), _no_newline
)
MARKERS = st.builds(fill_write_out, _codes, _seconds, _exitcodes, _errormsgs)
HELLO = st.one_of(
    st.sampled_from(HELLO_LINES),
    st.builds(lambda v, i: f"Hello version: {v}, instance: {i}", _no_newline, _no_newline),
)
PIECES = st.one_of(
    st.sampled_from(BATCH_LINES),
    st.sampled_from(ENVOY_LINES),
    HELLO,
    MARKERS,
    st.text(max_size=40),
)
MIXTURES = st.lists(PIECES, max_size=25).map("\n".join)


@FUZZ
@given(st.text())
def test_curl_batch_random_text(text):
    result = _parse_or_error(text)
    if isinstance(result, list):
        _check_transfers(text, result)


@FUZZ
@given(MIXTURES)
# Unicode digits pass str.isdigit() but int() rejects them: must be a ParseError, not a ValueError.
@example("@@meshnb@@ 200 0.004512 ² ")
@example("@@meshnb@@ ²⁰⁰ 0.004512 0 ")
def test_curl_batch_mixtures_of_real_pieces(text):
    result = _parse_or_error(text)
    if isinstance(result, list):
        _check_transfers(text, result)


@FUZZ
@given(st.lists(st.sampled_from(list(BATCHES.values())), min_size=1, max_size=4), st.data())
def test_curl_batch_real_batches_with_one_line_replaced(batches, data):
    lines = "".join(batches).splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    piece = data.draw(PIECES)
    lines[index] = piece
    text = "\n".join(lines) + "\n"
    result = _parse_or_error(text)
    if isinstance(result, list):
        _check_transfers(text, result)
    else:  # every other line is a real one, so the failing line comes from the piece put in
        assert result.line in piece.splitlines()
        assert index + 1 <= result.lineno <= index + len(piece.splitlines())


@pytest.mark.parametrize("scenario", sorted(BATCHES))
def test_curl_batch_truncated_at_every_length(scenario):
    full_text = BATCHES[scenario]
    full = parse_curl_batch(full_text)
    assert len(full) == 6
    for cut in range(len(full_text) + 1):
        text = full_text[:cut]
        result = _parse_or_error(text)
        at_line_boundary = cut == 0 or text.endswith("\n")
        if isinstance(result, ParseError):
            # Only a marker line cut inside its fields can fail, and it is the last line of the input.
            assert not at_line_boundary, cut
            assert result.lineno == len(text.splitlines()), cut
            continue
        _check_transfers(text, result)
        n = len(result)
        assert n <= len(full)
        if at_line_boundary:
            # Whole lines only: exactly the transfers whose marker line is complete, unchanged.
            assert result == full[:n], cut
        elif n:
            # The last marker line may be cut inside its time or error message; the rest are unchanged.
            last, same = result[-1], full[n - 1]
            assert result[: n - 1] == full[: n - 1], cut
            assert (last.http_status, last.body) == (same.http_status, same.body), cut


@FUZZ
@given(
    st.one_of(st.none(), st.integers(-1000, 1000)),
    st.one_of(MIXTURES, st.text()),
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    st.text(max_size=60),
)
def test_classify_error_never_raises(http_status, body, curl_exit, curl_error):
    kind = classify_error(http_status, body, curl_exit, curl_error)
    assert kind is None or kind in ERROR_KINDS
    if kind is None:
        assert parse_hello(body) is not None


@FUZZ
@given(st.sampled_from(ENVOY_LINES), st.data())
def test_classify_error_truncated_envoy_bodies(line, data):
    cut = data.draw(st.integers(0, len(line)))
    status = data.draw(st.sampled_from([None, 200, 503, 504]))
    kind = classify_error(status, line[:cut], 0, "")
    assert kind is None or kind in ERROR_KINDS


@FUZZ
@given(st.one_of(st.text(), HELLO, MIXTURES))
def test_parse_hello_never_raises(body):
    parsed = parse_hello(body)
    if parsed is not None:
        version, instance = parsed
        assert version and instance
        assert parse_hello(f"Hello version: {version}, instance: {instance}") == parsed


# --------------------------------------------------------------------------------------------------
# meshnb.readers.certs.read_certs

REDACTED = certs._REDACTED


def _assert_no_key_material(err: BaseException) -> None:
    """Nothing of ca-key.pem's body in the error, its line, or anything a traceback would show."""
    shown = "".join(traceback.format_exception(err)) + repr(getattr(err, "line", None)) + repr(err.args)
    for i in range(len(shown) - 15):
        assert shown[i : i + 16] not in KEY_GRAMS, f"key material in the error: {shown[i : i + 16]!r}"


def _certs_or_error(data: str | bytes):
    """read_certs' frame, or the ParseError it raised (checked); anything else propagates."""
    try:
        df = read_certs(data)
    except ParseError as err:
        _assert_no_key_material(err)
        if err.line is not None and err.line != REDACTED:
            text = data if isinstance(data, str) else data.decode("ascii")
            lines = text.splitlines()
            assert err.lineno is not None
            assert 1 <= err.lineno <= len(lines)
            assert lines[err.lineno - 1].strip() == err.line
        return err
    assert list(df.columns) == list(frame("certs", []).columns)
    return df


@FUZZ
@given(st.one_of(st.text(), st.binary()))
def test_read_certs_random_input(data):
    _certs_or_error(data)


_pem_lines = st.one_of(
    st.sampled_from(sorted({line for text in CERT_FILES.values() for line in text.splitlines()})),
    st.sampled_from(KEY_TEXT.splitlines()),
    st.sampled_from(
        [
            "-----BEGIN CERTIFICATE-----",
            "-----END CERTIFICATE-----",
            "-----BEGIN PRIVATE KEY-----",
            "-----END PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE REQUEST-----",
            "Proc-Type: 4,ENCRYPTED",
            "",
        ]
    ),
    st.text(max_size=30),
)


@FUZZ
@given(st.lists(_pem_lines, max_size=40).map("\n".join))
def test_read_certs_mixtures_of_real_lines(text):
    _certs_or_error(text)


def _sha256s(result) -> list[str] | None:
    return None if isinstance(result, ParseError) else result["sha256"].tolist()


@pytest.mark.parametrize("name", sorted(CERT_FILES))
def test_read_certs_truncated_at_every_line(name):
    text = CERT_FILES[name]
    full = _sha256s(_certs_or_error(text))
    assert full
    lines = text.splitlines(keepends=True)
    for n in range(len(lines) + 1):
        prefix = "".join(lines[:n])
        result = _certs_or_error(prefix)
        begins = [i + 1 for i, line in enumerate(lines[:n]) if line.startswith("-----BEGIN ")]
        ends = sum(line.startswith("-----END ") for line in lines[:n])
        if len(begins) == ends:  # whole certificates only: they parse, the same as in the full file
            assert _sha256s(result) == full[:ends], n
        else:  # cut inside a block: the error names the BEGIN line of the open block
            assert isinstance(result, ParseError), n
            assert (result.lineno, result.line) == (begins[-1], "-----BEGIN CERTIFICATE-----")


# Every shape once (one certificate, a chain, a bundle of roots); the -alt-2 twins and cert-chain.pem
# (the same bytes as ca-cert.pem) only at every line above, to keep the run short.
EVERY_LENGTH = [
    "ca-cert.pem",
    "ca-cert-alt.pem",
    "root-cert-alt.pem",
    "cert-chain-alt.pem",
    "root-cert-combined.pem",
]


@pytest.mark.parametrize("name", EVERY_LENGTH)
def test_read_certs_truncated_at_every_length(name):
    text = CERT_FILES[name]
    full = _sha256s(read_certs(text))
    for cut in range(len(text) + 1):
        try:
            parsed = parse_pem(text[:cut])
        except ParseError as err:
            _certs_or_error(text[:cut])  # read_certs agrees and names a line of the input
            assert err.lineno is not None
            continue
        got = [certs.fingerprint(cert) for cert, _ in parsed.certificates]
        assert got == full[: len(got)], cut


@FEW
@given(st.sampled_from(sorted(CERT_FILES)), st.data())
def test_read_certs_flipped_base64_char(name, data):
    text = CERT_FILES[name]
    body = [i for i, ch in enumerate(text) if ch.isalnum() or ch in "+/"]
    body = [i for i in body if not text[text.rfind("\n", 0, i) + 1 :].startswith("-----")]
    index = data.draw(st.sampled_from(body))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = data.draw(st.sampled_from(alphabet.replace(text[index], "")))
    _certs_or_error(text[:index] + new + text[index + 1 :])


def test_read_certs_bad_x509_version_is_a_parse_error():
    # One base64 char flipped in the version field: cryptography raises InvalidVersion (not a ValueError).
    text = CERT_FILES["ca-cert-alt-2.pem"]
    assert text[44] != "B"
    with pytest.raises(ParseError) as info:
        read_certs(text[:44] + "B" + text[45:])
    assert (info.value.lineno, info.value.line) == (1, "-----BEGIN CERTIFICATE-----")


@FEW
@given(st.sampled_from(sorted(CERT_FILES)), st.data())
def test_read_certs_any_char_replaced_or_inserted(name, data):
    text = CERT_FILES[name]
    index = data.draw(st.integers(0, len(text)))
    new = data.draw(st.one_of(st.sampled_from(list("-=:\n \t\x00é")), st.characters()))
    drop = data.draw(st.integers(0, 1))
    _certs_or_error(text[:index] + new + text[index + drop :])


def test_private_key_prefixes_never_show_the_key():
    for cut in range(len(KEY_TEXT) + 1):
        result = _certs_or_error(KEY_TEXT[:cut])
        if not isinstance(result, ParseError):
            assert result.empty
            assert result.attrs["private_keys_skipped"] in (0, 1)
    # In a cacerts-like bundle (key between certificates) every line prefix too.
    bundle = CERT_FILES["ca-cert.pem"] + KEY_TEXT + CERT_FILES["root-cert.pem"]
    lines = bundle.splitlines(keepends=True)
    for n in range(len(lines) + 1):
        _certs_or_error("".join(lines[:n]))


@FUZZ
@given(st.data())
def test_private_key_mutations_and_slices_never_show_the_key(data):
    text = KEY_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(text)))
        new = data.draw(st.one_of(st.sampled_from(list("-=:\nA+/ ")), st.characters(max_codepoint=127)))
        text = text[:index] + new + text[index + data.draw(st.integers(0, 1)) :]
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    wrap = data.draw(st.sampled_from(["{}", "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n"]))
    for candidate in (text, text[start:end], wrap.format(text[start:end]), text.encode() + b"\xff"):
        _certs_or_error(candidate)


def test_private_key_body_under_a_certificate_label_is_not_shown():
    body = "\n".join(KEY_BODY)
    for text in (
        f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n",
        f"-----BEGIN CERTIFICATE-----\n{body}\n",
        f"-----BEGIN CERTIFICATE-----\n{body}!\n-----END CERTIFICATE-----\n",
        f"{body}\n",
    ):
        with pytest.raises(ParseError) as info:
            read_certs(text)
        _assert_no_key_material(info.value)


# --------------------------------------------------------------------------------------------------
# meshnb.readers.istiod_log.parse_istiod_log

_word = st.text("abcdefghijklmnopqrstuvwxyz0123456789-./", min_size=1, max_size=20)
_real_ts = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
)
_any_ts = st.from_regex(r"\A\d{4}-\d\d-\d\dT[0-9:.]{1,12}Z?\Z")
_level = st.sampled_from(["info", "warn", "error", "debug", "x"])
_scope = st.sampled_from(["", "kube\t", "multicluster\t", "ads\t"])
_error = st.one_of(
    st.sampled_from(["", "invalid kubeconfig: no server found", "Get https://10.0.0.2:6443: i/o timeout"]),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=30),
)


def _labels(cluster: str, secret: str, key: str) -> str:
    return f"\tcluster={cluster} {key}={secret}"


_messages = st.one_of(
    st.builds(
        lambda s, c, e: f"Failed to add remote cluster from secret={s} for cluster_id={c}: {e}",
        _word,
        _word,
        _error,
    ),
    st.builds(lambda c, s, e: f"Adding cluster_id={c} from secret={s}: {e}", _word, _word, _error),
    st.builds(lambda c, s: f"Adding cluster_id={c} from secret={s}", _word, _word),
    st.builds(
        lambda e, c, s, k: f"Add cluster: create remote cluster failed: {e}" + _labels(c, s, k),
        _error,
        _word,
        _word,
        st.sampled_from(["secret", "config"]),
    ),
    st.builds(lambda c, s: "Adding cluster" + _labels(c, s, "secret"), _word, _word),
    st.builds(lambda n: f"Number of remote clusters: {n}", st.integers(0, 10**6)),
    _error,
)


def _log_line(ts: str, level: str, scope: str, message: str) -> str:
    return f"{ts}\t{level}\t{scope}{message}"


LOG_LINES = st.one_of(
    st.builds(_log_line, _real_ts, _level, _scope, _messages),
    st.builds(_log_line, _any_ts, _level, _scope, _messages),
    st.text(max_size=60),
)
REAL_LOG_LINES = st.builds(_log_line, _real_ts, _level, _scope, _messages)
EVENTS = {"add_failed", "added"}


def _check_rows(text: str, rows: list[dict]) -> None:
    lines = text.splitlines()
    assert len(rows) <= len(lines)
    for row in rows:
        assert row["line"] in lines
        assert row["event"] in EVENTS or row["event"].startswith("remote_clusters=")
        for column in ("secret", "remote_cluster", "error"):
            assert row[column] is None or row[column] in row["line"]


@FUZZ
@given(st.text())
def test_istiod_log_random_text_never_raises(text):
    _check_rows(text, parse_istiod_log(text, cluster="c1", pod="istiod-0"))


@FUZZ
@given(st.lists(LOG_LINES, max_size=30).map("\n".join))
def test_istiod_log_mixtures_give_rows_of_input_lines(text):
    _check_rows(text, parse_istiod_log(text))


@FUZZ
@given(st.lists(REAL_LOG_LINES, min_size=1, max_size=10))
def test_istiod_log_known_lines_all_give_a_row_that_fits_the_schema(lines):
    text = "\n".join(lines)
    rows = parse_istiod_log(text)
    _check_rows(text, rows)
    frame("istiod_events", rows)


@FEW
@given(st.lists(st.builds(_log_line, _any_ts, _level, _scope, _messages), min_size=1, max_size=5))
@example(["9999-99-99T1:Z\terror\tNumber of remote clusters: 3"])
@example(["0001-01-01T00\tinfo\tNumber of remote clusters: 0"])  # a real date, before pandas' range
def test_istiod_log_rows_fit_the_schema_whatever_the_timestamp(lines):
    # check_remote_secrets builds frame("istiod_events", rows): a row must never make that raise.
    frame("istiod_events", parse_istiod_log("\n".join(lines)))


def test_istiod_log_long_lines_are_cut_to_a_prefix():
    line = (
        "2026-11-28T09:00:01.100000Z\terror\tkube\tAdd cluster: create remote cluster failed: " + "x" * 2000
    )
    (row,) = parse_istiod_log(line)
    assert line.startswith(row["line"])
    assert len(row["line"]) == 1000


# --------------------------------------------------------------------------------------------------
# meshnb.diagnostics.remote_secrets.describe_remote_secret

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
_b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TOKENS = st.one_of(
    st.text(_b64url, min_size=24, max_size=60).map(lambda s: "sk-" + s),
    st.tuples(st.integers(0, 2**33), st.text(_b64url, min_size=16, max_size=40)).map(
        lambda t: (
            "eyJhbGciOiJSUzI1NiJ9."
            + base64.urlsafe_b64encode(json.dumps({"exp": t[0]}).encode()).decode().rstrip("=")
            + "."
            + t[1]
        )
    ),
)
_keys = st.one_of(st.sampled_from(["cluster1", "cluster2", "kubeconfig"]), st.text(max_size=10))
_annotations = st.one_of(st.just({}), st.builds(lambda c: {ANNOTATION: c}, _keys))


def _secret(data: dict[str, bytes], annotations: dict[str, str]) -> Secret:
    return Secret(
        name="istio-remote-secret-cluster2",
        namespace="istio-system",
        labels={"istio/multiCluster": "true"},
        annotations=annotations,
        data=SecretData(data),
    )


def _describe(secret: Secret) -> list[dict]:
    rows = describe_remote_secret(secret, "cluster1", ["cluster1", "cluster2"], NOW)
    assert [row["data_key"] for row in rows] == (list(secret.data) or [None])
    frame("remote_secrets", rows)  # check_remote_secrets builds this frame from the rows
    return rows


@FUZZ
@given(st.dictionaries(_keys, st.binary(max_size=300), max_size=3), _annotations)
def test_remote_secret_random_bytes_never_raise(data, annotations):
    _describe(_secret(data, annotations))


@FUZZ
@given(_keys, st.binary(max_size=200), st.binary(max_size=200), TOKENS, _annotations)
def test_remote_secret_token_in_random_bytes_is_never_shown(key, before, after, token, annotations):
    rows = _describe(_secret({key: before + token.encode() + after}, annotations))
    assert token not in repr(rows)


def _kubeconfig(token: str, name: str = "cluster2", server: str = "https://10.0.0.2:6443") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": "LS0t"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"token": token}}],
    }


@FEW
@given(TOKENS, st.sampled_from(["cluster2", "cluster1", "other"]))
def test_remote_secret_real_kubeconfig_token_is_never_shown(token, key):
    rows = _describe(_secret({key: yaml.safe_dump(_kubeconfig(token)).encode()}, {ANNOTATION: "cluster2"}))
    assert token not in repr(rows)
    assert rows[0]["auth"] == "token"


@pytest.mark.parametrize("style", ["block", "flow"])
def test_remote_secret_kubeconfig_truncated_at_every_length(style):
    token = "sk-" + "T0k3n" * 8
    text = yaml.safe_dump(_kubeconfig(token), default_flow_style=style == "flow").encode()
    for cut in range(len(text) + 1):
        rows = _describe(_secret({"cluster2": text[:cut]}, {ANNOTATION: "cluster2"}))
        assert token not in repr(rows), cut


_yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(TOKENS, st.sampled_from(["clusters", "contexts", "users", "current-context"]), _yaml_values)
@example("sk-AAAAAAAAAAAAAAAAAAAAAAAA", "contexts", [{"name": "cluster2", "context": 5}])  # not a mapping
@example("sk-AAAAAAAAAAAAAAAAAAAAAAAA", "clusters", [1])  # a list item that is not a mapping
@example("sk-AAAAAAAAAAAAAAAAAAAAAAAA", "current-context", "2026-13-01")  # a YAML date out of range
def test_remote_secret_kubeconfig_with_odd_shapes_never_raises(token, field, value):
    config = _kubeconfig(token)
    config[field] = value
    text = yaml.safe_dump(config).encode()
    if isinstance(value, str) and value[:4].isdigit():
        text = text.replace(f"'{value}'".encode(), value.encode())  # unquoted, as a hand-written file
    rows = _describe(_secret({"cluster2": text}, {ANNOTATION: "cluster2"}))
    assert token not in repr(rows)


# --------------------------------------------------------------------------------------------------
# meshnb.readers.endpoints.read_endpoints on the real inputs of tests/data/real (every istioctl layout,
# -o yaml, proxy-config all, Envoy's internal and dual-stack addresses)

REAL = Path(__file__).parent / "data" / "real"
ENDPOINT_FILES = {
    path.name: path.read_text()
    for path in sorted((REAL / "istioctl").glob("*")) + sorted((REAL / "envoy").glob("envoy-1.40-*"))
    if not path.name.endswith(".bootstrap.yaml")
}
TEXT_FILES = sorted(name for name, text in ENDPOINT_FILES.items() if text.lstrip()[:1] not in "{[")
ENDPOINT_LINES = sorted({line for name in TEXT_FILES for line in ENDPOINT_FILES[name].splitlines()})
ENDPOINT_COLUMNS = list(frame("endpoints", []).columns)


def _endpoints_or_error(text: str | bytes):
    """read_endpoints' frame, or its ParseError (which names an input line, or a JSON path)."""
    try:
        df = meshnb.read_endpoints(text)
    except ParseError as err:
        if err.lineno is not None and isinstance(text, str):
            lines = text.splitlines()
            assert 1 <= err.lineno <= max(len(lines), 1), err
            if lines and err.line is not None and len(err.line) < 200:
                assert lines[err.lineno - 1].rstrip("\r").strip() in (
                    err.line.strip(),
                    err.line[:200].strip(),
                ) or (err.line.startswith("$")), err
        elif err.line is not None and err.lineno is None:
            assert err.line.startswith("$"), err  # a JSON path
        return err
    assert list(df.columns) == ENDPOINT_COLUMNS
    ports = df["endpoint_port"].dropna()
    assert ((ports >= 0) & (ports <= 65535)).all()
    return df


def test_every_real_endpoint_file_reads():
    for name, text in ENDPOINT_FILES.items():
        result = _endpoints_or_error(text)
        assert not isinstance(result, ParseError), (name, result)
        assert len(result) > 0, name


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(ENDPOINT_LINES), st.text(max_size=30)), max_size=30).map("\n".join))
@example(
    "NAME  STATUS  LOCALITY  CLUSTER\n10.0.0.1:80,fd00::1:99999  HEALTHY  outbound|80||a.b.svc.cluster.local"
)
@example("------ ENDPOINTS INFO ------\n\nENDPOINT CLUSTER\nendpoint/envoy://x/1:2 outbound|1||a")
def test_read_endpoints_mixtures_of_real_lines(text):
    _endpoints_or_error(text)


@pytest.mark.parametrize("name", TEXT_FILES)
def test_read_endpoints_truncated_at_every_line(name):
    text = ENDPOINT_FILES[name]
    lines = text.splitlines(keepends=True)
    full = _endpoints_or_error(text)
    assert not isinstance(full, ParseError)
    for n in range(len(lines) + 1):
        result = _endpoints_or_error("".join(lines[:n]))
        if not isinstance(result, ParseError) and not name.startswith("all-") and not name.endswith(".yaml"):
            # a table or Envoy's text cut at a line: a prefix of the same endpoints
            assert len(result) <= len(full), (name, n)


@FEW
@given(st.sampled_from(sorted(ENDPOINT_FILES)), st.data())
def test_read_endpoints_real_files_cut_and_mutated(name, data):
    text = ENDPOINT_FILES[name]
    cut = data.draw(st.integers(0, len(text)))
    _endpoints_or_error(text[:cut])
    index = data.draw(st.integers(0, len(text)))
    new = data.draw(st.one_of(st.sampled_from(list(":,/|-&*!{}[]\n \t9")), st.characters()))
    _endpoints_or_error(text[:index] + new + text[index + data.draw(st.integers(0, 1)) :])


@FUZZ
@given(
    st.integers(0, 2**33),
    st.sampled_from(["{}:{}", "[fd00::1]:{1}", "fd00::1:{1}", "10.0.0.8:80,{}:{}", "endpoint/{}:{}"]),
    st.sampled_from(["ENDPOINT STATUS OUTLIER CHECK CLUSTER", "NAME STATUS LOCALITY CLUSTER", ""]),
)
def test_ports_above_65535_are_refused_everywhere(port, form, header):
    endpoint = form.format("10.0.0.1", port)
    middle = "HEALTHY   OK" if header.startswith("ENDPOINT") or not header else "HEALTHY   us-west/a"
    row = f"{endpoint}   {middle}   outbound|80||a.b.svc.cluster.local"
    text = f"{header}\n{row}\n" if header else row
    envoy_text = f"outbound|80||a.b.svc.cluster.local::10.0.0.1:{port}::weight::1"
    primary = 80 if form.startswith("10.0.0.8:80,") else port  # a dual-stack row's first address
    for candidate, expected in ((text, primary), (envoy_text, port)):
        result = _endpoints_or_error(candidate)
        if port > 65535:
            assert isinstance(result, ParseError) and "65535" in str(result), candidate
        else:
            assert not isinstance(result, ParseError), (candidate, result)
            assert result["endpoint_port"].tolist() == [expected]


def _mutated_yaml(doc, path, value) -> str:
    node = doc
    for step in path:
        if isinstance(node, dict) and node:
            key = sorted(node, key=str)[step % len(node)]
            if not path or step == path[-1]:
                node[key] = value
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[step % len(node)]
        else:
            break
    return yaml.safe_dump(doc)


@FEW
@given(
    st.sampled_from([name for name in ENDPOINT_FILES if name.endswith(".yaml")]),
    st.lists(st.integers(0, 40), max_size=8),
    st.one_of(st.none(), st.integers(-(2**40), 2**40), st.text(max_size=8), st.booleans(), st.just([{}])),
)
def test_read_endpoints_yaml_with_odd_values(name, path, value):
    _endpoints_or_error(_mutated_yaml(yaml.safe_load(ENDPOINT_FILES[name]), path, value))


# --------------------------------------------------------------------------------------------------
# read_certs: a bundle with one broken block reads the others; names as openssl prints them


@FEW
@given(st.lists(st.sampled_from(sorted(CERT_FILES)), min_size=2, max_size=4), st.data())
def test_read_certs_bundle_with_one_broken_block(names, data):
    clean = "".join(CERT_FILES[name].rstrip("\n") + "\n" for name in names)
    whole = read_certs(clean)["sha256"].tolist()
    lines = clean.splitlines()
    body = [i for i, line in enumerate(lines) if line and not line.startswith("-----")]
    i = data.draw(st.sampled_from(body))
    j = data.draw(st.integers(0, len(lines[i]) - 1))
    bad = data.draw(st.sampled_from(list("!*.$ %")))
    lines[i] = lines[i][:j] + bad + lines[i][j + 1 :]
    begins = [k + 1 for k, line in enumerate(lines[: i + 1]) if line.startswith("-----BEGIN ")]
    block = len(begins) - 1  # the corrupted block, counting from 0
    good = whole[:block] + whole[block + 1 :]
    df = _certs_or_error("\n".join(lines) + "\n")
    assert not isinstance(df, ParseError), df  # the bundle holds at least one other certificate
    assert df["sha256"].tolist() == good
    (broken,) = df.attrs["broken_blocks"]
    # a space at either end of a line is whitespace PEM allows: the line reads, one character short,
    # and the block's base64 comes out the wrong length only once all of it is read, which is said
    # at its last base64 line (the line before END); anything else breaks its own line
    stripped = bad == " " and j in (0, len(lines[i]) - 1)
    last = next(k for k in range(i, len(lines)) if lines[k].startswith("-----END "))  # 1-based, before END
    assert (broken["begin_line"], broken["lineno"]) == (begins[-1], last if stripped else i + 1)
    assert not any(broken["line"][k : k + 16] in KEY_GRAMS for k in range(len(broken["line"])))


_name_values = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(sorted(certs._OPENSSL_NAMES)), _name_values), min_size=1, max_size=6)
)
def test_openssl_names_are_ascii_and_never_raise(attributes):
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    try:
        name = x509.Name([x509.NameAttribute(ObjectIdentifier(oid), value) for oid, value in attributes])
    except ValueError:  # cryptography refuses some values (a country code that is not 2 letters)
        return
    text = certs.openssl_name(name)
    assert text.isascii()
    assert text.count(",") >= len(attributes) - 1


# --------------------------------------------------------------------------------------------------
# meshnb.readers.ztunnel.read_ztunnel on Istio's ztunnel test data (tests/data/ztunnel: config dumps,
# every ztunnel-config workload layout, ztunnel-config all)

ZTUNNEL_FILES = {
    path.name: path.read_text()
    for path in sorted((Path(__file__).parent / "data" / "ztunnel").iterdir())
    if path.suffix != ".md"
}
ZTUNNEL_TEXT_FILES = sorted(name for name in ZTUNNEL_FILES if name.endswith(".txt"))
ZTUNNEL_LINES = sorted({line for name in ZTUNNEL_TEXT_FILES for line in ZTUNNEL_FILES[name].splitlines()})


def _ztunnel_or_error(text: str | bytes):
    """read_ztunnel's frame, or its ParseError (which names an input line, or a JSON path)."""
    try:
        df = meshnb.read_ztunnel(text)
    except ParseError as err:
        if err.lineno is not None and isinstance(text, str):
            lines = text.splitlines()
            assert 1 <= err.lineno <= max(len(lines), 1), err
            assert err.line is not None and err.line.strip() in text, err
        elif err.line is not None:
            assert err.line.startswith("$"), err  # a JSON path
        return err
    assert list(df.columns) == ENDPOINT_COLUMNS
    ports = df["endpoint_port"].dropna()
    assert ((ports >= 0) & (ports <= 65535)).all()
    return df


def test_every_ztunnel_file_reads():
    for name, text in ZTUNNEL_FILES.items():
        result = _ztunnel_or_error(text)
        assert not isinstance(result, ParseError), (name, result)
        assert len(result) > 0, name


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(ZTUNNEL_LINES), st.text(max_size=30)), max_size=30).map("\n".join))
@example(
    "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS\n"
    "ns        s            1.2.3.4     None     9/999999999"
)
def test_read_ztunnel_mixtures_of_real_lines(text):
    _ztunnel_or_error(text)


@pytest.mark.parametrize("name", ZTUNNEL_TEXT_FILES)
def test_read_ztunnel_truncated_at_every_line(name):
    lines = ZTUNNEL_FILES[name].splitlines(keepends=True)
    for n in range(len(lines) + 1):
        _ztunnel_or_error("".join(lines[:n]))


@FEW
@given(st.sampled_from(sorted(ZTUNNEL_FILES)), st.data())
def test_read_ztunnel_real_files_cut_and_mutated(name, data):
    text = ZTUNNEL_FILES[name]
    cut = data.draw(st.integers(0, len(text)))
    _ztunnel_or_error(text[:cut])
    index = data.draw(st.integers(0, len(text)))
    new = data.draw(st.one_of(st.sampled_from(list(':,/"-{}[]\n 9')), st.characters()))
    _ztunnel_or_error(text[:index] + new + text[index + data.draw(st.integers(0, 1)) :])


def _mutated_json(doc, path, value):
    node = doc
    for step in path:
        if isinstance(node, dict) and node:
            key = sorted(node, key=str)[step % len(node)]
            if step == path[-1] or not isinstance(node[key], dict | list):
                node[key] = value
                break
            node = node[key]
        elif isinstance(node, list) and node:
            index = step % len(node)
            if step == path[-1] or not isinstance(node[index], dict | list):
                node[index] = value
                break
            node = node[index]
        else:
            break
    return json.dumps(doc)


@FEW
@given(
    st.sampled_from([name for name in ZTUNNEL_FILES if name.endswith(".json")]),
    st.lists(st.integers(0, 40), min_size=1, max_size=8),
    st.one_of(
        st.none(),
        st.integers(-(2**40), 2**40),
        st.text(max_size=8),
        st.booleans(),
        st.just([{}]),
        st.just({}),
    ),
)
def test_read_ztunnel_json_with_odd_values(name, path, value):
    _ztunnel_or_error(_mutated_json(json.loads(ZTUNNEL_FILES[name]), path, value))
