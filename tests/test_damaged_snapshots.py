"""Damaged and hostile snapshots: ``meshnb.load`` and ``meshnb report`` refuse each with one clear line.

Every case starts from a real snapshot of a simulated triage and breaks it the way a disk, a
transfer or a hostile sender would: truncation, a bad CRC, a manifest of the wrong shape, an unknown
status, a missing or corrupt Parquet member, tables swapped between schemas, deeply nested JSON, and
zip bombs (a header that says so, a header that lies, and a real 2.6 GB of zeros in 2.6 MB).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

import meshnb
from meshnb import cli
from meshnb.diagnostics.triage import triage
from meshnb.errors import ConfigError


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("snapshots") / "good.meshnb"
    triage(meshnb.simulate("missing-remote-secret"), requests=20).save(path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path: Path, out: Path, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    members = change(_members(path))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _manifest(change: Callable[[dict], object]) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    def apply(members: dict[str, bytes]) -> dict[str, bytes]:
        manifest = json.loads(members["manifest.json"])
        return {**members, "manifest.json": json.dumps(change(manifest)).encode()}

    return apply


def _set(manifest: dict, keys: tuple, value: object) -> dict:
    target = manifest
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return manifest


def _drop(manifest: dict, key: str) -> dict:
    del manifest[key]
    return manifest


def _first_table(members: dict[str, bytes], suffix: str) -> str:
    return next(name for name in members if name.endswith(suffix))


def _swap(members: dict[str, bytes]) -> dict[str, bytes]:
    samples = _first_table(members, "/samples.parquet")
    endpoints = _first_table(members, "/endpoints.parquet")
    return {**members, samples: members[endpoints], endpoints: members[samples]}


def _corrupt_parquet(members: dict[str, bytes]) -> dict[str, bytes]:
    """Flip the last byte of a data page (the latencies'), the footer left intact."""
    import pyarrow.parquet as pq

    name = _first_table(members, "/samples.parquet")
    data = bytearray(members[name])
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0)
    columns = [meta.column(i) for i in range(meta.num_columns)]
    chunk = next(c for c in columns if c.path_in_schema == "latency_ms")
    data[chunk.data_page_offset + chunk.total_compressed_size - 1] ^= 0xFF
    return {**members, name: bytes(data)}


def _garbage_parquet(members: dict[str, bytes]) -> dict[str, bytes]:
    return {**members, _first_table(members, "/sources.parquet"): b"PAR1 this is not parquet PAR1"}


def _missing_parquet(members: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in members.items() if not k.endswith("/split.parquet")}


def _nested(members: dict[str, bytes]) -> dict[str, bytes]:
    return {**members, "manifest.json": b"[" * 200_000 + b"]" * 200_000}


def _not_utf8(members: dict[str, bytes]) -> dict[str, bytes]:
    return {**members, "manifest.json": b'{"format": "\xff\xfe\xfa"}'}


DAMAGES: dict[str, Callable[[dict[str, bytes]], dict[str, bytes]]] = {
    "manifest is a list": _manifest(lambda m: [m]),
    "manifest is a string": _manifest(lambda m: "meshnb-snapshot/1"),
    "no metadata": _manifest(lambda m: _drop(m, "metadata")),
    "no diagnosis": _manifest(lambda m: _drop(m, "diagnosis")),
    "no findings": _manifest(lambda m: _drop(m, "findings")),
    "findings is a list": _manifest(lambda m: _set(m, ("findings",), list(m["findings"]))),
    "metadata is a string": _manifest(lambda m: _set(m, ("metadata",), "x")),
    "unknown status": _manifest(lambda m: _set(m, ("findings", "trust", "status"), "mostly-fine")),
    "finding without a check": _manifest(lambda m: _drop(m["findings"]["trust"], "check")),
    "evidence is a mapping": _manifest(lambda m: _set(m, ("findings", "trust", "evidence"), {"a": 1})),
    "evidence names a path": _manifest(lambda m: _set(m, ("findings", "trust", "evidence"), ["../../x"])),
    "cause with unknown fields": _manifest(lambda m: _set(m, ("diagnosis", "causes"), [{"bogus": 1}])),
    "causes is a number": _manifest(lambda m: _set(m, ("diagnosis", "causes"), 7)),
    "deeply nested manifest": _nested,
    "manifest not UTF-8": _not_utf8,
    "missing parquet member": _missing_parquet,
    "garbage parquet member": _garbage_parquet,
    "corrupt parquet pages": _corrupt_parquet,
    "schemas swapped": _swap,
}


def _damaged(good: Path, tmp_path: Path, name: str) -> Path:
    return _rewrite(good, tmp_path / "damaged.meshnb", DAMAGES[name])


def _truncated(good: Path, tmp_path: Path, keep: float) -> Path:
    data = good.read_bytes()
    out = tmp_path / "truncated.meshnb"
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def _bad_crc(good: Path, tmp_path: Path) -> Path:
    """Flip one byte inside a stored member's data: the zip's CRC no longer matches."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/samples.parquet"))
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    out = tmp_path / "crc.meshnb"
    out.write_bytes(bytes(data))
    return out


def _lying_header(tmp_path: Path) -> Path:
    """A member that says it unpacks to 100 bytes and unpacks to 50 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b" " * 50_000_000)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("manifest.json")
    real = struct.pack("<I", info.file_size)
    fake = struct.pack("<I", 100)
    data = bytearray(bytes(data).replace(real, fake))  # local header and central directory alike
    out = tmp_path / "lying.meshnb"
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """2.6 GB of zeros packed into 2.6 MB, as manifest.json (written as a raw deflate stream)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.meshnb"
    size, chunk = 2600 << 20, bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("manifest.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size = size
        with archive.open(info, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
    assert path.stat().st_size < 5_000_000
    return path


def _case(good: Path, tmp_path: Path, name: str) -> Path:
    if name in DAMAGES:
        return _damaged(good, tmp_path, name)
    if name.startswith("truncated"):
        return _truncated(good, tmp_path, float(name.rsplit(maxsplit=1)[-1]))
    if name == "bad crc":
        return _bad_crc(good, tmp_path)
    if name == "lying header":
        return _lying_header(tmp_path)
    if name == "empty file":
        (tmp_path / "empty.meshnb").write_bytes(b"")
        return tmp_path / "empty.meshnb"
    if name == "a directory":
        return tmp_path
    raise AssertionError(name)


CASES = [
    *DAMAGES,
    "truncated 0.5",
    "truncated 0.99",
    "truncated 0.001",
    "bad crc",
    "lying header",
    "empty file",
    "a directory",
]


@pytest.mark.parametrize("name", CASES)
def test_damaged_snapshot_is_refused_with_one_line(good, tmp_path, name, capsys):
    path = _case(good, tmp_path, name)
    with pytest.raises(ConfigError) as caught:
        meshnb.load(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 600
    assert cli.main(["report", str(path)]) == cli.EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("meshnb: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_the_good_snapshot_still_loads(good):
    assert meshnb.load(good).findings["load-balancing"].status == "fail"


def test_a_member_past_the_limit_is_refused_before_it_is_read(good):
    with pytest.raises(ConfigError, match="more than the limit"):
        meshnb.load(good, max_bytes=10_000)


def test_a_table_too_big_for_memory_is_refused_from_its_footer(good, tmp_path):
    """A few KB of Parquet (5 million equal values, run-length encoded) that would load as 40 MB."""
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"x": [0] * 5_000_000}).to_parquet(buffer, compression=None)
    tiny = buffer.getvalue()
    path = _rewrite(
        good, tmp_path / "rows.meshnb", lambda m: {**m, _first_table(m, "/samples.parquet"): tiny}
    )
    assert sum(len(v) for v in _members(path).values()) < 1_000_000
    with pytest.raises(ConfigError, match=r"samples\.parquet \(5,000,000 rows\) would take more than"):
        meshnb.load(path, max_bytes=10_000_000)


def test_a_real_zip_bomb_is_refused_at_once(zip_bomb):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="would unpack to 2,726,297,600 bytes"):
        meshnb.load(zip_bomb)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50_000, f"peak memory grew by {grown_kib} KiB"


def test_a_zip_bomb_allowed_past_the_limit_still_stops_at_the_manifest_limit(zip_bomb):
    with pytest.raises(ConfigError, match=r"manifest\.json would unpack to"):
        meshnb.load(zip_bomb, max_bytes=4 << 30)


@pytest.mark.parametrize("name", ["truncated 0.5", "schemas swapped", "deeply nested manifest"])
def test_the_command_line_says_one_line_and_exits_2(good, tmp_path, name):
    path = _case(good, tmp_path, name)
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "report", str(path), "--html", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("meshnb: error:") and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "r.html").exists()


def test_zip_crc_checks_are_what_the_reader_relies_on():
    """The bad-crc case above is only meaningful if zipfile checks CRCs on read (it does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a", b"0123456789" * 10)
    data = bytearray(buffer.getvalue())
    data[40] ^= 0xFF
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive, pytest.raises(zipfile.BadZipFile):
        archive.read("a")
    assert zlib.crc32(b"x")  # zlib present: the deflate members are checked the same way
