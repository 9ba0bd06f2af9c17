"""python -m testbed (up|down|fault) DIR [FAULT]: what tests/testbed/up, down and fault run."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .bed import Testbed
from .world import FAULTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start two clusters in DIR and write DIR/kubeconfig")
    up.add_argument("dir", type=Path)
    up.add_argument("--bin", type=Path, required=True, help="where tests/testbed/build put the binaries")
    down = sub.add_parser("down", help="stop everything 'up' started in DIR")
    down.add_argument("dir", type=Path)
    fault = sub.add_parser("fault", help="switch the clusters in DIR to a fault of the guide")
    fault.add_argument("dir", type=Path)
    fault.add_argument("fault", choices=FAULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    bed = Testbed(args.dir)
    if args.command == "up":
        try:
            bed.up(args.bin)
        except BaseException:
            bed.down()
            raise
        sys.stdout.write(f"export KUBECONFIG={bed.kubeconfig}\n")
    elif args.command == "down":
        stopped = bed.down()
        logging.info("stopped: %s", ", ".join(stopped) or "nothing was running")
    else:
        bed.fault(args.fault)
    return 0


if __name__ == "__main__":
    sys.exit(main())
