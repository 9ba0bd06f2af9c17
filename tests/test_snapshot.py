"""Snapshots: what triage saw, saved atomically, loaded back equal with no cluster, and free of secrets."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from planted import planted_secrets

import meshnb
from meshnb.diagnostics import report as snapshot
from meshnb.diagnostics.triage import triage
from meshnb.errors import ConfigError
from meshnb.html_report import report_html


def assert_reports_equal(got, want) -> None:
    assert got.metadata == want.metadata
    assert got.diagnosis.to_dict() == want.diagnosis.to_dict()
    assert list(got.findings) == list(want.findings)
    for name, finding in want.findings.items():
        loaded = got.findings[name]
        assert (loaded.check, loaded.status, loaded.summary, loaded.next_steps) == (
            finding.check,
            finding.status,
            finding.summary,
            finding.next_steps,
        )
        assert json.loads(json.dumps(loaded.details, default=str)) == json.loads(
            json.dumps(finding.details, default=str)
        )
        assert list(loaded.evidence) == list(finding.evidence)
        for table, frame in finding.evidence.items():
            pd.testing.assert_frame_equal(loaded.evidence[table], frame.reset_index(drop=True), obj=table)


@pytest.mark.parametrize("scenario", sorted(meshnb.SCENARIOS))
def test_a_loaded_snapshot_equals_the_report(tmp_path, scenario):
    report = triage(meshnb.simulate(scenario), allow_changes=True)
    path = report.save(tmp_path / f"{scenario}.meshnb")
    assert_reports_equal(meshnb.load(path), report)


def test_a_crash_mid_write_leaves_no_half_snapshot(tmp_path, monkeypatch):
    report = triage(meshnb.simulate("firewall"))
    target = tmp_path / "incident.meshnb"
    report.save(target)
    before = target.read_bytes()
    calls = []

    def crash(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user interrupts, or the machine dies, mid-write
        return original(self, *args, **kwargs)

    original = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(KeyboardInterrupt):
        triage(meshnb.simulate("healthy")).save(target)
    assert target.read_bytes() == before  # the previous snapshot, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident.meshnb"]  # no temporary left
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        report.save(tmp_path / "new.meshnb")
    assert not (tmp_path / "new.meshnb").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "is not a meshnb snapshot"),
        (None, "no readable manifest"),
        ({"format": "something-else/9"}, "unknown snapshot format"),
    ],
)
def test_what_is_not_a_snapshot_is_refused_clearly(tmp_path, content, message):
    path = tmp_path / "x.meshnb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.txt", "x")
            if content is not None:
                archive.writestr("manifest.json", json.dumps(content))
    with pytest.raises(ConfigError, match=message):
        meshnb.load(path)


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("scenario", ["healthy", "remote-secret-wrong-key", "trust-mismatch"])
def test_no_token_or_private_key_reaches_a_snapshot_report_json_or_log(tmp_path, caplog, scenario):
    mesh = meshnb.simulate(scenario)
    needles = planted_secrets(mesh)
    assert mesh.clusters["cluster1"].read_secret("istio-system", "cacerts")["ca-key.pem"]  # planted
    with caplog.at_level(logging.DEBUG):
        report = triage(mesh, allow_changes=True)
        path = report.save(tmp_path / "s.meshnb")
        loaded = meshnb.load(path)
    blobs = {
        **_entries(path),
        "<file>": path.read_bytes(),
        "<json>": json.dumps(report.to_dict(), default=str).encode(),
        "<loaded json>": json.dumps(loaded.to_dict(), default=str).encode(),
        "<html report>": report_html(loaded).encode(),
        "<log>": "\n".join(r.getMessage() for r in caplog.records).encode(),
    }
    for where, blob in blobs.items():
        for needle in needles:
            assert needle not in blob, f"a secret reached {where}"


def test_parquet_entries_are_uncompressed_so_the_secret_search_sees_their_bytes(tmp_path):
    path = triage(meshnb.simulate()).save(tmp_path / "s.meshnb")
    entries = _entries(path)
    import pyarrow.parquet as pq

    for name, data in entries.items():
        if name.endswith(".parquet"):
            meta = pq.ParquetFile(io.BytesIO(data)).metadata
            for group in range(meta.num_row_groups):
                for column in range(meta.num_columns):
                    assert meta.row_group(group).column(column).compression == "UNCOMPRESSED"


def test_cli_saves_a_snapshot(tmp_path):
    path = tmp_path / "cli.meshnb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshnb.cli",
            "triage",
            "--simulate",
            "missing-remote-secret",
            "--save",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and f"snapshot written to {path}" in result.stderr
    assert meshnb.load(path).diagnosis.causes[0].key == "remote-secret-missing"


def test_format_is_named_in_the_manifest(tmp_path):
    path = triage(meshnb.simulate()).save(tmp_path / "s.meshnb")
    manifest = json.loads(_entries(path)["manifest.json"])
    assert manifest["format"] == snapshot.FORMAT and "load-balancing" in manifest["findings"]
