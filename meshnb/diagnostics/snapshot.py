"""Snapshots: a triage Report kept in one file, to read back with no cluster at hand, and to compare.

A snapshot is a zip: ``manifest.json`` (metadata, diagnosis, each Finding without its tables) and
``evidence/<check>/<table>.parquet``. It is written to a temporary file beside the target and renamed
over it, so a crash mid-write leaves the previous file (or none), never half a snapshot. Evidence
tables hold what the checks saw, never a token or key (checks keep secret keys' names only).

>>> import tempfile, meshnb
>>> from meshnb.diagnostics.triage import triage
>>> path = tempfile.mkdtemp() + "/healthy.meshnb"
>>> saved = triage(meshnb.simulate()).save(path)
>>> load(path).diagnosis.summary.startswith("no problem found")
True
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshnb.diagnostics.diagnosis import Diagnosis
from meshnb.diagnostics.finding import Finding
from meshnb.errors import ConfigError
from meshnb.files import atomic_file

if TYPE_CHECKING:
    from meshnb.diagnostics.triage import Report

__all__ = ["FORMAT", "load", "save"]

FORMAT = "meshnb-snapshot/1"


def save(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write ``report`` to ``path`` atomically; returns the path."""
    target = Path(path)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "metadata": report.metadata,
        "diagnosis": report.diagnosis.to_dict(),
        "findings": {},
    }
    with atomic_file(target) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, finding in report.findings.items():
            manifest["findings"][name] = finding.to_dict(evidence=False)
            for table, frame in finding.evidence.items():
                buffer = io.BytesIO()
                frame.reset_index(drop=True).to_parquet(buffer, index=False, compression=None)
                archive.writestr(f"evidence/{name}/{table}.parquet", buffer.getvalue())
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, default=str))
    return target


def load(path: str | os.PathLike[str]) -> Report:
    """Read a snapshot written by :func:`save` (or ``Report.save``) back into a Report."""
    import pandas as pd

    from meshnb.diagnostics.triage import Report
    from meshnb.schemas import SCHEMAS, validate

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path} is not a meshnb snapshot: {exc}") from exc
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path} is not a meshnb snapshot: no readable manifest.json") from exc
        if manifest.get("format") != FORMAT:
            raise ConfigError(
                f"{path}: unknown snapshot format {manifest.get('format')!r} (this meshnb reads {FORMAT})"
            )
        findings = {}
        for name, entry in manifest["findings"].items():
            finding = findings[name] = Finding.from_dict({**entry, "evidence": {}})
            for table in entry["evidence"]:
                frame = pd.read_parquet(io.BytesIO(archive.read(f"evidence/{name}/{table}.parquet")))
                finding.evidence[table] = validate(table, frame) if table in SCHEMAS else frame
    return Report(findings, Diagnosis.from_dict(manifest["diagnosis"]), manifest["metadata"])
