"""`meshnb read FILE` and the notebooks' paste box: every real input read as its kind, refusals said plainly.

The real inputs are the files under tests/data/real (origins in the READMEs there). Each one's kind is
known from what produced it (istioctl, Envoy, istiod, kubectl), and detection must find it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshnb.errors import ParseError
from meshnb.readers.detect import KINDS, detect, read_any
from meshnb.widgets.paste import PasteBox

REAL = Path(__file__).parent / "data" / "real"
SAMPLE_CERTS = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "istio" / "certs"

# what produced each real input, as a glob under tests/data/real -> the kind meshnb must detect
KIND_OF = {
    "istioctl/*": "endpoints",
    "envoy/istio-*": "curl",  # Envoy's error replies, as the guide's curl loop prints them
    "envoy/envoy-*.json": "endpoints",
    "envoy/envoy-*.txt": "endpoints",
    "certs/*.pem": "certs",
    "istiod/*": "istiod-log",
    "views/ps-*": "proxy-status",
    "views/remote-clusters-*": "remote-clusters",
    "views/clusterz-*": "clusterz",
    "views/networkz-*": "networkz",
    "views/endpointShardz-*": "endpoint-shards",
    "views/syncz-*": "syncz",
    "views/ambientz-*": "ambientz",
}


# what is kept beside the inputs, not an input: openssl's reading of a certificate, Envoy's bootstrap
NOT_INPUTS = ("*.openssl.txt", "*.bootstrap.yaml", "README.md")


def _real_inputs() -> list[tuple[Path, str]]:
    found = []
    for pattern, kind in KIND_OF.items():
        found += [
            (path, kind)
            for path in sorted(REAL.glob(pattern))
            if not any(path.match(skip) for skip in NOT_INPUTS)
        ]
    return found


ZTUNNEL = Path(__file__).parent / "data" / "ztunnel"  # origins in its ORIGIN.md


@pytest.mark.parametrize(
    "path", sorted(p for p in ZTUNNEL.iterdir() if p.suffix != ".md"), ids=lambda p: p.name
)
def test_ztunnel_inputs_are_detected_as_ztunnel(path):
    text = path.read_text()
    assert detect(text).name == "ztunnel"
    reading = read_any(text)
    assert reading.kind == "ztunnel" and len(reading.frame) > 0
    assert list(reading.frame.columns) == list(__import__("meshnb.schemas").schemas.SCHEMAS["endpoints"])


def test_a_ztunnel_dump_in_list_form_is_not_taken_for_its_certificates():
    dump = json.loads((ZTUNNEL / "dump.json").read_text())
    assert "-----BEGIN " in json.dumps(dump)  # its "certificates" hold PEM
    listed = {
        **dump,
        "workloads": list(dump["workloads"].values()),
        "services": list(dump["services"].values()),
    }
    assert detect(json.dumps(listed, indent=2)).name == "ztunnel"


def meshnb_read(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshnb", "read", *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_real_input_has_a_known_kind():
    files = {p for p in REAL.rglob("*") if p.is_file() and not any(p.match(skip) for skip in NOT_INPUTS)}
    assert files == {path for path, _kind in _real_inputs()}, "a real input without a kind in KIND_OF"


@pytest.mark.parametrize(("path", "kind"), _real_inputs(), ids=lambda v: getattr(v, "name", v))
def test_every_real_input_is_detected_and_read(path, kind):
    text = path.read_text()
    assert detect(text).name == kind
    reading = read_any(text)
    assert reading.kind == kind
    assert len(reading.frame) > 0 or "empty" in path.name  # a header alone is an empty table
    assert list(reading.frame.columns) == list(
        __import__("meshnb.schemas").schemas.SCHEMAS[detect(text).schema]
    )


def test_the_command_reads_a_file_and_prints_its_rows_and_kind():
    path = REAL / "istioctl" / "guide-endpoint-grep-multi-network.txt"
    result = meshnb_read(str(path))
    assert result.returncode == 0, result.stderr
    assert "endpoints (Envoy /clusters, istioctl proxy-config endpoint" in result.stdout
    assert ": 2 rows" in result.stdout
    assert "10.0.5.11" in result.stdout and "10.0.6.13" in result.stdout  # the guide's two pod IPs
    assert "region" not in result.stdout  # a column this input has no value for is left out


def test_json_output_is_the_whole_reading():
    path = REAL / "istiod" / "secretcontroller-1.16.0.log"
    result = meshnb_read(str(path), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "istiod-log"
    events = [row["event"] for row in doc["rows"]]
    assert "add_failed" in events and "update_failed" in events
    failed = next(row for row in doc["rows"] if row["event"] == "add_failed")
    # the 1.16.0 format string: "%s cluster: create remote cluster failed: %v", labels cluster= secret=
    assert failed["remote_cluster"] == "c2" and failed["secret"] == "istio-system/istio-remote-secret-c2"
    assert failed["ts"].startswith("2026-11-28T09:00:01")


def test_standard_input_and_a_chosen_kind():
    row = "10.0.0.11:5000   HEALTHY   OK   outbound|5000||helloworld.sample.svc.cluster.local\n"
    result = meshnb_read("-", "--as", "endpoints", "--json", stdin=row)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"][0]["endpoint_port"] == 5000
    wrong = meshnb_read("-", "--as", "certs", stdin=row)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.startswith("meshnb: error: -: ")


@pytest.mark.parametrize(
    ("stdin", "said"),
    [
        ("garbage\nmore garbage\n", "not a kind of output meshnb reads"),
        ("", "nothing to read"),
        ("ENDPOINT STATUS OUTLIER CHECK CLUSTER\n10.0.0.1:99999 HEALTHY OK outbound|80||a.b.svc\n", "line 2"),
    ],
)
def test_what_cannot_be_read_is_one_line_exit_2(stdin, said):
    result = meshnb_read("-", stdin=stdin)
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_a_missing_file_is_said_plainly(tmp_path):
    result = meshnb_read(str(tmp_path / "nope.txt"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"meshnb: error: {tmp_path / 'nope.txt'}: No such file or directory"


def test_a_file_over_the_limit_is_not_read(tmp_path, monkeypatch, capsys):
    from meshnb import cli

    big = tmp_path / "big.txt"
    big.write_text("Hello version: v1, instance: h-1\n" * 100)
    monkeypatch.setattr(cli, "MAX_READ_BYTES", 1000)
    assert cli.main(["read", str(big)]) == 2
    assert "larger than" in capsys.readouterr().err


def _secret_yaml() -> tuple[str, str]:
    """A cacerts secret as `kubectl get secret cacerts -o yaml` prints it, and its ca-key.pem value."""
    data = {
        name: base64.b64encode((SAMPLE_CERTS / name).read_bytes()).decode()
        for name in ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")
    }
    lines = ["apiVersion: v1", "data:"] + [f"  {k}: {v}" for k, v in data.items()]
    lines += ["kind: Secret", "metadata:", "  name: cacerts", "  namespace: istio-system", "type: Opaque"]
    return "\n".join(lines) + "\n", data["ca-key.pem"]


def test_a_secret_is_read_without_its_key_anywhere_in_the_output():
    text, key_b64 = _secret_yaml()
    for args in ((), ("--json",)):
        result = meshnb_read("-", *args, stdin=text)
        assert result.returncode == 0, result.stderr
        assert "ca-key.pem" in result.stdout  # named as not read
        assert key_b64[:40] not in result.stdout and "PRIVATE KEY" not in result.stdout
        assert base64.b64decode(key_b64).decode()[40:80] not in result.stdout


# The paste box, as the notebooks use it


def test_the_paste_box_shows_the_rows_of_a_real_paste():
    box = PasteBox()
    box.text.value = (REAL / "istioctl" / "guide-endpoint-grep-primary.txt").read_text()
    reading = box.read()
    assert reading is not None and reading.kind == "endpoints"
    assert "1 row" in box.status.value
    shown = box.output.outputs[0]["data"]["text/html"]
    assert "10.0.0.11" in shown and "outbound|5000||helloworld.sample.svc.cluster.local" in shown


def test_the_paste_box_shows_a_refusal_and_keeps_the_text():
    box = PasteBox()
    box.text.value = "ENDPOINT STATUS CLUSTER\n10.0.0.1:80 SOMETIMES outbound|80||a.b.svc\n"
    assert box.read() is None
    assert isinstance(box.error, ParseError)
    assert "ERROR" in box.status.value and "line 2" in box.status.value
    assert box.output.outputs == ()
    assert box.text.value.startswith("ENDPOINT")  # the user can correct it


def test_the_paste_box_clears_text_that_holds_a_private_key():
    text, _key = _secret_yaml()
    box = PasteBox(kind="certs")
    box.text.value = text
    reading = box.read()
    assert reading is not None and len(reading.frame) > 0
    assert box.text.value == "" and "private key" in box.status.value
    key_only = PasteBox()
    key_only.text.value = (SAMPLE_CERTS / "ca-key.pem").read_text()
    assert key_only.read() is None  # refused: meshnb never reads keys
    assert key_only.text.value == ""


def test_the_paste_box_knows_only_real_kinds():
    assert {k.name for k in KINDS} >= {"certs", "istiod-log", "curl", "endpoints"}
    with pytest.raises(ValueError, match="unknown kind 'pem'"):
        PasteBox(kind="pem")


_PIECES = st.sampled_from(
    [
        "Hello version: v1, instance: h-1",
        "-----BEGIN CERTIFICATE-----",
        "kind: Secret",
        "ENDPOINT STATUS OUTLIER CHECK CLUSTER",
        "10.0.0.1:80 HEALTHY OK outbound|80||a.b.svc",
        "2026-11-28T09:00:01.000000Z\tinfo\tkube\tAdd cluster\tcluster=c2 secret=s",
        '{"level":"info","msg":"Add cluster"}',
        "outbound|80||a::10.0.0.1:80::weight::1",
        "LS0tLS1CRUdJTi",
        "curl: (7) Failed to connect",
        "NAMESPACE POD NAME ADDRESS NODE WAYPOINT PROTOCOL",
        "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS",
        "default   sleep        10.96.30.20 None     1/1",
        '{"workloads": [',
        "{",
        "[",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=8))
def test_any_text_is_read_or_refused_with_a_parse_error(pieces):
    text = "\n".join(pieces)
    try:
        reading = read_any(text)
    except ParseError:
        return
    assert reading.kind in {k.name for k in KINDS}
    json.dumps(reading.to_dict(), default=str)
