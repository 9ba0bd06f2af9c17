"""The atomic writer never destroys: whole or nothing, through symlinks, never over a device, a FIFO or
a directory, and a writer killed mid-write leaves the old file and nothing the next write trips on."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import meshnb
from meshnb.errors import ConfigError, MeshnbError
from meshnb.files import NEW_FILE_MODE, STALE_TEMP_SECONDS, atomic_file
from meshnb.html_report import write_html


def _write(path, data: bytes = b"new") -> None:
    with atomic_file(path) as out:
        out.write(data)


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_new_file_is_written_whole_and_readable_by_its_owner_only(tmp_path):
    target = tmp_path / "sub" / "report.html"
    _write(target, b"whole")
    assert target.read_bytes() == b"whole" and stat.S_IMODE(target.stat().st_mode) == NEW_FILE_MODE
    assert _temps(target.parent) == []


def test_an_existing_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "report.html"
    target.write_bytes(b"old")
    target.chmod(0o640)
    _write(target)
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_writing_through_a_symlink_keeps_the_link_and_updates_its_target(tmp_path):
    real = tmp_path / "reports" / "2024-05-01.html"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "latest.html"
    link.symlink_to(Path("reports") / real.name)  # relative, as people make them
    chain = tmp_path / "current.html"
    chain.symlink_to(link)  # a link to a link
    _write(chain, b"new")
    assert chain.is_symlink() and link.is_symlink() and os.readlink(link) == f"reports/{real.name}"
    assert real.read_bytes() == b"new" and link.read_bytes() == b"new"
    assert _temps(tmp_path) == [] and _temps(real.parent) == []


def test_a_dangling_symlink_is_written_through(tmp_path):
    link = tmp_path / "latest.html"
    link.symlink_to("today.html")
    _write(link)
    assert link.is_symlink() and (tmp_path / "today.html").read_bytes() == b"new"


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # a reader holds the FIFO open, so even a writer that wrongly opened it could not block the test
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        started = time.monotonic()
        with pytest.raises(
            ConfigError, match=r"^refusing to write .*pipe: it is a FIFO, not a regular file$"
        ):
            _write(fifo)
        assert time.monotonic() - started < 5
        assert os.read(reader, 10) == b""  # nothing was written into it
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _temps(tmp_path) == []


def test_a_fifo_behind_a_symlink_is_refused_and_says_where_the_link_points(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "out.html").symlink_to("pipe")
    with pytest.raises(ConfigError, match=r"out\.html \(a link to .*pipe\): it is a FIFO"):
        _write(tmp_path / "out.html")
    assert (tmp_path / "out.html").is_symlink() and stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)


def test_a_directory_is_refused(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "kept").write_bytes(b"kept")
    with pytest.raises(ConfigError, match="it is a directory, not a regular file"):
        _write(target)
    assert (target / "kept").read_bytes() == b"kept" and _temps(tmp_path) == []


def test_a_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ConfigError, match="it is a socket"):
            _write(path)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.fixture
def dev_null_guard():
    """As root, put /dev/null back if a broken writer replaced it (so a regression cannot break the box)."""
    yield
    if not stat.S_ISCHR(os.lstat("/dev/null").st_mode):
        os.unlink("/dev/null")
        os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod("/dev/null", 0o666)
        pytest.fail("/dev/null was replaced (and has been put back)")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root may replace /dev/null")
def test_as_root_dev_null_is_refused_and_stays_a_device(dev_null_guard, tmp_path):
    before = os.lstat("/dev/null")
    with pytest.raises(ConfigError, match=r"^refusing to write /dev/null: it is a character device"):
        _write("/dev/null")
    link = tmp_path / "report.html"
    link.symlink_to("/dev/null")
    with pytest.raises(ConfigError, match=r"report\.html \(a link to /dev/null\): it is a character device"):
        _write(link)
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not [name for name in os.listdir("/dev") if name.startswith(".null.")]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root makes device nodes")
def test_as_root_a_device_node_is_refused(tmp_path):
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(ConfigError, match="it is a character device"):
        _write(device)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and _temps(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root may replace /dev/null")
def test_as_root_the_html_report_and_the_snapshot_refuse_dev_null_with_a_meshnb_error(dev_null_guard):
    report = meshnb.triage(meshnb.simulate())
    with pytest.raises(MeshnbError, match="character device"):
        write_html(report, "/dev/null")
    with pytest.raises(MeshnbError, match="character device"):
        report.save("/dev/null")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_the_cli_reports_a_refused_target_in_one_line(tmp_path):
    snapshot = meshnb.triage(meshnb.simulate()).save(tmp_path / "s.meshnb")
    os.mkfifo(tmp_path / "pipe")
    cli = [sys.executable, "-m", "meshnb.cli", "report", str(snapshot), "--html", str(tmp_path / "pipe")]
    result = subprocess.run(cli, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode != 0 and "it is a FIFO, not a regular file" in result.stderr
    assert "Traceback" not in result.stderr and stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


def test_keyboard_interrupt_in_the_block_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "s.meshnb"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as out:
        out.write(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []


_SLOW_WRITER = """
import sys, time
from meshnb.files import atomic_file
with atomic_file(sys.argv[1]) as out:
    out.write(b"half of the new")
    out.flush()
    print("writing", flush=True)
    time.sleep(60)
    out.write(b" content")
"""


def test_a_writer_killed_mid_write_leaves_the_old_file_and_the_next_write_succeeds(tmp_path):
    target = tmp_path / "s.meshnb"
    target.write_bytes(b"old")
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "writing\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert target.read_bytes() == b"old"
    (left,) = _temps(tmp_path)  # what a SIGKILL leaves: the half-written temporary file
    assert left.startswith(".s.meshnb.") and (tmp_path / left).read_bytes() == b"half of the new"
    _write(target, b"next")
    assert target.read_bytes() == b"next"
    assert _temps(tmp_path) == [left]  # recent: maybe a live writer's, so left alone
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(tmp_path / left, (old, old))
    _write(target, b"after")
    assert target.read_bytes() == b"after" and _temps(tmp_path) == []  # stale: removed


def test_only_stale_temporary_files_of_the_same_target_are_removed(tmp_path):
    old = time.time() - STALE_TEMP_SECONDS - 60
    names = {
        ".r.html.abcd_123.tmp": False,  # this target's, stale: removed
        ".r.html.abcdefgh.tmp.bak": True,  # not a temporary name
        ".r.html.bak.abcdefgh.tmp": True,  # the temporary file of r.html.bak
        ".r.htm.abcdefgh.tmp": True,  # of r.htm
        "r.html.abcdefgh.tmp": True,  # no leading dot: someone's file
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".r.html.linkstal.tmp").symlink_to(tmp_path / "elsewhere")  # not a regular file: kept
    (tmp_path / "elsewhere").write_bytes(b"kept")
    _write(tmp_path / "r.html")
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {name for name, stays in names.items() if stays} | {
        "r.html",
        ".r.html.linkstal.tmp",
        "elsewhere",
    }


def test_a_target_that_becomes_a_device_during_the_block_is_not_replaced(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(ConfigError, match="it is a FIFO"), atomic_file(target) as out:
        out.write(b"new")
        os.mkfifo(target)
    assert stat.S_ISFIFO(os.lstat(target).st_mode) and _temps(tmp_path) == []


def test_the_directory_is_synced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    _write(tmp_path / "r.html")
    assert synced == [False, True]  # the file, then its directory
