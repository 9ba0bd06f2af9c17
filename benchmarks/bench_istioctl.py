"""meshnb's endpoint reader against the real istioctl, whole process, on the same 50,000-host Envoy output.

Writes the Envoy ``/clusters?format=json`` of bench_endpoints.py (5,000 clusters x 10 hosts, 58.6 MB) and
times each as a person runs it, best of 5 and median:

- ``istioctl proxy-config endpoint --file clusters.json`` (the test bed's real istioctl, built by
  tests/testbed/build; its table goes to /dev/null);
- a Python process that imports meshnb and calls ``read_endpoints`` on the file.

The two take turns, so that both meet the same load on a shared machine. A first round warms the page
cache and is not counted; meshnb's bytecode is compiled before, as a person's second run finds it.

Target (issue 15): meshnb at least 5 times faster, best against best. Exit status 1 if it is missed, 2
if istioctl cannot be built.

    .venv/bin/python benchmarks/bench_istioctl.py
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_endpoints import envoy_json

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
TARGET_RATIO = 5.0
ISTIO_VERSION = "1.31-dev"  # tests/testbed/build's
_READ = "import sys; from meshnb.readers.endpoints import read_endpoints as r; r(open(sys.argv[1]).read())"


def timed(commands: dict[str, list[str]]) -> dict[str, list[float]]:
    """Wall seconds of ``RUNS`` runs of each command, taken in turns so that both meet the same load.

    Output is discarded; a failure stops the benchmark.
    """
    seconds: dict[str, list[float]] = {label: [] for label in commands}
    for run in range(RUNS + 1):
        for label, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
            if run:  # the first round warms the page cache and is not counted
                seconds[label].append(time.perf_counter() - start)
    return seconds


def main() -> int:
    build = subprocess.run(
        [str(ROOT / "tests" / "testbed" / "build")], capture_output=True, text=True, check=False
    )
    if build.returncode != 0:
        print(f"istioctl could not be built (tests/testbed/build):\n{build.stderr[-2000:]}", file=sys.stderr)
        return 2
    istioctl = Path(build.stdout.strip().splitlines()[-1]) / f"istioctl-{ISTIO_VERSION}"
    # meshnb's bytecode, as a person's second run finds it: an editable install writes none, and
    # PYTHONDONTWRITEBYTECODE (set on CI machines) would make every timed run compile meshnb again
    compileall.compile_dir(str(ROOT / "meshnb"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clusters.json"
        path.write_text(envoy_json(), encoding="utf-8")
        runs = timed(
            {
                f"istioctl {ISTIO_VERSION} proxy-config endpoint --file": [
                    str(istioctl),
                    "proxy-config",
                    "endpoint",
                    "--file",
                    str(path),
                ],
                "meshnb read_endpoints (python -c)": [sys.executable, "-c", _READ, str(path)],
            }
        )
        size = path.stat().st_size / 2**20
    print(f"{size:.1f} MB Envoy /clusters?format=json, 50,000 hosts; whole process, {RUNS} runs each")
    for label, seconds in runs.items():
        print(f"  {label:<48} best {min(seconds):6.2f} s  median {statistics.median(seconds):6.2f} s")
    istioctl_s, meshnb_s = (min(seconds) for seconds in runs.values())
    ratio = istioctl_s / meshnb_s
    met = ratio >= TARGET_RATIO
    print(f"meshnb is {ratio:.1f} times faster (target >= {TARGET_RATIO:.0f}): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
