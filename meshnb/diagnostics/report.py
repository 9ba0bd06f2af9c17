"""A triage Report (what every check saw, and the diagnosis) and its snapshot file.

A snapshot keeps a Report in one file, to read back with no cluster at hand, and to compare.

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
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshnb.diagnostics.diagnosis import Diagnosis
from meshnb.diagnostics.finding import STATUSES, Finding, worst
from meshnb.errors import ConfigError
from meshnb.files import atomic_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMAT", "MAX_BYTES", "Report", "load", "save"]

FORMAT = "meshnb-snapshot/1"
#: The most a snapshot may unpack to (all members together, and any one table in memory).
MAX_BYTES = 2 << 30
MAX_MANIFEST_BYTES = 64 << 20


@dataclass
class Report:
    """What triage saw and concluded: every Finding by check name, the diagnosis, and metadata."""

    findings: dict[str, Finding]
    diagnosis: Diagnosis
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The worst status of the findings (a skipped probe does not count)."""
        return worst([f.status for f in self.findings.values()])

    @property
    def exit_code(self) -> int:
        """As for ``meshnb check``: 0 pass/warn, 1 fail, 2 error."""
        return {"fail": 1, "error": 2}.get(self.status, 0)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a snapshot atomically (see :func:`save`); ``meshnb.load`` reads it."""
        return save(self, path)

    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: the status, the diagnosis, the metadata and every Finding.

        ``samples=False`` leaves out each request's row (see :meth:`Finding.to_dict`).
        """
        return {
            "status": self.status,
            "diagnosis": self.diagnosis.to_dict(),
            "metadata": self.metadata,
            "findings": {name: f.to_dict(samples=samples) for name, f in self.findings.items()},
        }


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
                frame.reset_index(drop=True).to_parquet(
                    buffer, index=False, compression=None, write_page_checksum=True
                )
                archive.writestr(f"evidence/{name}/{table}.parquet", buffer.getvalue())
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, default=str))
    return target


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Report:
    """Read a snapshot written by :func:`save` (or ``Report.save``) back into a Report.

    Anything else, damaged or hostile, raises :class:`ConfigError` with one line saying what is wrong:
    a truncated or corrupt zip, a manifest that is not a snapshot's, an unknown status, a missing or
    unreadable table, a table of the wrong schema. Nothing is unpacked past ``max_bytes`` (the sum of
    what the members unpack to, and what any one table would take in memory), so a zip bomb is refused
    before it costs memory.
    """
    import pyarrow

    try:
        return _load(path, max_bytes)
    except ConfigError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RecursionError, pyarrow.ArrowException) as exc:
        raise ConfigError(f"{path} is not a readable meshnb snapshot: {_why(exc)}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # parts of the wrong shape
        raise ConfigError(
            f"{path} is not a meshnb snapshot of a form this meshnb reads: {_why(exc)}"
        ) from exc


def _why(exc: BaseException) -> str:
    """What went wrong, in one line (pyarrow's and pandas' messages can run over many)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _load(path: str | os.PathLike[str], max_bytes: int) -> Report:
    from meshnb.schemas import schema_name, upgrade, validate

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path} is not a meshnb snapshot: {exc}") from exc
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        unpacked = sum(info.file_size for info in members.values())
        if unpacked > max_bytes:
            raise ConfigError(
                f"{path} would unpack to {unpacked:,} bytes, more than the limit of {max_bytes:,} "
                "(a damaged or hostile file; meshnb.load(path, max_bytes=...) allows more)"
            )
        if "manifest.json" not in members:
            raise ConfigError(f"{path} is not a meshnb snapshot: no readable manifest.json (there is none)")
        try:
            manifest = json.loads(_member(archive, members["manifest.json"], MAX_MANIFEST_BYTES, path))
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{path} is not a meshnb snapshot: manifest.json is not readable JSON") from exc
        _check_manifest(manifest, path)
        findings = {}
        for name, entry in manifest["findings"].items():
            finding = findings[name] = Finding.from_dict({**entry, "evidence": {}})
            for table in entry["evidence"]:
                member = f"evidence/{name}/{table}.parquet"
                if member not in members:
                    raise ConfigError(f"{path}: the manifest lists {member}, which is not in the file")
                frame = _table(_member(archive, members[member], max_bytes, path), member, max_bytes, path)
                schema = schema_name(finding.check, table)
                try:
                    finding.evidence[table] = validate(schema, upgrade(schema, frame)) if schema else frame
                except (ValueError, TypeError) as exc:
                    raise ConfigError(f"{path}: {member} is not a {table} table: {_why(exc)}") from exc
    return Report(findings, Diagnosis.from_dict(manifest["diagnosis"]), manifest["metadata"])


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: object) -> bytearray:
    """A member's bytes, read in pieces and never past ``limit`` (whatever its header claims)."""
    if info.file_size > limit:
        raise ConfigError(
            f"{path}: {info.filename} would unpack to {info.file_size:,} bytes, more than the limit of "
            f"{limit:,}"
        )
    out = bytearray()
    with archive.open(info) as member:
        while piece := member.read(1 << 20):
            out += piece
            if len(out) > limit:
                raise ConfigError(f"{path}: {info.filename} unpacks past the limit of {limit:,} bytes")
    return out  # held once: the Parquet reader reads it in place


def _table(data: bytearray, member: str, limit: int, path: object) -> pd.DataFrame:
    """A Parquet member as a DataFrame, refused first if its pages would unpack or load past ``limit``."""
    import pyarrow
    import pyarrow.parquet as pq

    buffer = pyarrow.py_buffer(data)  # no copy (io.BytesIO would make one per reader)
    meta = pq.ParquetFile(pyarrow.BufferReader(buffer)).metadata
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    in_memory = meta.num_rows * max(meta.num_columns, 1) * 8  # at least a pointer or number per cell
    if max(unpacked, in_memory) > limit:
        raise ConfigError(
            f"{path}: {member} ({meta.num_rows:,} rows) would take more than the limit of {limit:,} bytes"
        )
    return pq.read_table(pyarrow.BufferReader(buffer), page_checksum_verification=True).to_pandas()


def _check_manifest(manifest: Any, path: object) -> None:
    """The manifest's shape, checked before any of it is used."""
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} is not a meshnb snapshot: its manifest is not a JSON object")
    if manifest.get("format") != FORMAT:
        shown = repr(manifest.get("format"))[:60]
        raise ConfigError(f"{path}: unknown snapshot format {shown} (this meshnb reads {FORMAT})")
    shapes = {"metadata": dict, "diagnosis": dict, "findings": dict}
    for key, kind in shapes.items():
        if not isinstance(manifest.get(key), kind):
            raise ConfigError(f"{path}: the manifest's {key!r} is missing or not a JSON object")
    for key, entry in manifest["findings"].items():
        name = repr(key)[:60]
        tables = entry.setdefault("evidence", []) if isinstance(entry, dict) else None
        if not isinstance(tables, list):
            raise ConfigError(f"{path}: the manifest's finding {name} is not of a snapshot's form")
        if not all(isinstance(t, str) and t and "/" not in t for t in tables):
            raise ConfigError(f"{path}: the manifest's finding {name} names tables that cannot be")
        if entry.get("status") not in STATUSES:
            status = repr(entry.get("status"))[:40]
            raise ConfigError(f"{path}: finding {name} has status {status}, not one of {', '.join(STATUSES)}")
