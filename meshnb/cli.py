"""The ``meshnb`` command line: run a check from a terminal or CI job.

Exit codes: 0 pass or warn, 1 fail, 2 error (including bad arguments or an unreachable mesh).

    meshnb check load-balancing --simulate firewall
    meshnb check load-balancing --context kind-cluster1 --context kind-cluster2 --requests 200 --json
    meshnb lab [-- --no-browser --port 8899]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from meshnb.errors import MeshnbError

EXIT_ERROR = 2
FIRST_NOTEBOOK = "notebooks/01-cross-cluster-load-balancing.ipynb"


def _parser() -> argparse.ArgumentParser:
    from meshnb.backends.sim import SCENARIOS

    parser = argparse.ArgumentParser(prog="meshnb", description="Troubleshoot Istio multicluster meshes.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run one check of Istio's multicluster troubleshooting guide")
    checks = check.add_subparsers(dest="check", required=True)
    lb = checks.add_parser(
        "load-balancing",
        help="curl the service from every cluster's curl pod and check that every version answers",
    )
    target = lb.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--simulate",
        metavar="SCENARIO",
        choices=sorted(SCENARIOS),
        help="use the simulated mesh: %(choices)s",
    )
    target.add_argument(
        "--context", action="append", metavar="CONTEXT", help="a kubeconfig context (repeat for each cluster)"
    )
    lb.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    lb.add_argument("--seed", type=int, default=0, help="seed of the simulated mesh (default: %(default)s)")
    lb.add_argument("--namespace", default="sample", help="default: %(default)s")
    lb.add_argument("--service", default="helloworld", help="default: %(default)s")
    lb.add_argument("--port", type=int, default=5000, help="default: %(default)s")
    lb.add_argument("--path", default="/hello", help="default: %(default)s")
    lb.add_argument("--requests", type=int, default=100, help="requests per cluster (default: %(default)s)")
    lb.add_argument("--json", action="store_true", help="print the finding as JSON")
    commands.add_parser("scenarios", help="list the simulated mesh's scenarios")
    lab = commands.add_parser(
        "lab", help="open JupyterLab on meshnb's notebooks (they run on the simulated mesh by default)"
    )
    lab.add_argument("--notebook", default=FIRST_NOTEBOOK, help="notebook to open (default: %(default)s)")
    lab.add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab`, e.g. --no-browser"
    )
    return parser


def _lab(notebook: str, extra: list[str]) -> int:
    """Replace this process with JupyterLab rooted at the project, opening ``notebook``."""
    root = Path(__file__).resolve().parents[1]
    if not (root / notebook).is_file():
        print(
            f"meshnb: error: {notebook} not found under {root} (run from a checkout of meshnb)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", notebook]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines often run as root
    argv += [arg for arg in extra if arg != "--"]
    os.chdir(root)
    os.execv(sys.executable, argv)


def _mesh(args: argparse.Namespace):
    if args.simulate:
        from meshnb.backends.sim import simulate

        return simulate(args.simulate, seed=args.seed)
    from meshnb.backends.kube import connect

    return connect(args.context, kubeconfig=args.kubeconfig)


def _table(finding) -> str:
    """A readable plain-text report of a load-balancing finding."""
    lines = [f"{finding.status.upper()}: {finding.summary}", ""]
    sources = finding.evidence["sources"]
    lines.append(
        sources[["source_cluster", "source_pod", "requests", "ok", "errors", "versions", "status", "detail"]]
        .fillna("")
        .to_string(index=False)
    )
    split = finding.evidence["split"]
    if len(split):
        shown = split.assign(
            share=(split["share"] * 100).round(1),
            ci=[
                f"{lo * 100:.1f}-{hi * 100:.1f}"
                for lo, hi in zip(split["ci_low"], split["ci_high"], strict=True)
            ],
            expected=(split["expected_share"] * 100).round(1),
        )
        lines += ["", "Split of successful responses (%, 95% Wilson interval):"]
        lines.append(
            shown[["source_cluster", "version", "dest_cluster", "count", "share", "ci", "expected"]]
            .fillna("")
            .to_string(index=False)
        )
    if finding.next_steps:
        lines += ["", "Next steps:"] + [f"  {i}. {step}" for i, step in enumerate(finding.next_steps, 1)]
    return "\n".join(lines)


def _progress(cluster: str, done: int, total: int) -> None:
    print(f"\r{cluster}: {done}/{total} requests", end="\n" if done == total else "", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``meshnb`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "scenarios":
        from meshnb.backends.sim import SCENARIO_DESCRIPTIONS

        for name, description in SCENARIO_DESCRIPTIONS.items():
            print(f"{name:24} {description}")
        return 0
    if args.command == "lab":
        return _lab(args.notebook, args.jupyter_args)
    from meshnb.diagnostics.load_balancing import check_load_balancing

    try:
        mesh = _mesh(args)
        finding = check_load_balancing(
            mesh,
            namespace=args.namespace,
            service=args.service,
            port=args.port,
            path=args.path,
            requests=args.requests,
            progress=_progress if sys.stderr.isatty() and not args.json else None,
        )
    except (MeshnbError, ValueError) as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(finding.to_json(indent=2) if args.json else _table(finding))
    return finding.exit_code


if __name__ == "__main__":
    sys.exit(main())
