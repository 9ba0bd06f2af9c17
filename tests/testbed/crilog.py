"""Run a command and write its output as a container runtime writes a container's log (CRI framing),
which kwok serves to ``kubectl logs``: ``python -m testbed.crilog FILE -- ARGV...``.

Each line becomes ``TIMESTAMP stdout F LINE`` (both streams are merged, as istiod writes to stdout).
The command's exit status is this process's.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    path, sep, command = argv[0], argv[1], argv[2:]
    if sep != "--" or not command:
        sys.stderr.write("usage: python -m testbed.crilog FILE -- ARGV...\n")
        return 64
    with open(path, "ab", buffering=0) as out:
        read, write = os.pipe()
        # a container's stdout is open to its own user: Envoy (uid 1337) opens /dev/stdout for its
        # access log, which is this pipe
        os.fchmod(write, 0o666)
        proc = subprocess.Popen(command, stdout=write, stderr=write)
        os.close(write)
        for line in os.fdopen(read, "rb"):
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()
            out.write(stamp + b" stdout F " + line.rstrip(b"\n") + b"\n")
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
