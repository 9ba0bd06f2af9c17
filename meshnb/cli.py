"""The ``meshnb`` command line: run a check from a terminal or CI job.

Exit codes: 0 pass or warn, 1 fail, 2 error (including bad arguments or an unreachable mesh).

    meshnb check --simulate firewall      # every read-only check, a line each [-o short|json] [--wait 5m]
    meshnb check load-balancing --simulate firewall
    meshnb check load-balancing --context kind-cluster1 --context kind-cluster2 --requests 200 --json
    meshnb check remote-secrets --simulate remote-secret-wrong-key
    meshnb triage --context kind-cluster1 --context kind-cluster2 [--allow-changes] [--save F] [--json]
    meshnb triage --lab firewall          # the same on real Envoys on this machine
    meshnb report incident.meshnb --html incident.html
    meshnb read pasted.txt [--as endpoints] [--json]   # what meshnb makes of a saved output
    meshnb lab [-- --no-browser --port 8899]
    meshnb demo [--backend lab] [-- --no-browser --port 8866]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import textwrap
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshnb import clean_save
from meshnb.errors import ClusterTimeout, ConfigError, MeshnbError, Unreachable

if TYPE_CHECKING:
    import pandas as pd

    from meshnb.backends.base import Mesh
    from meshnb.diagnostics.check import Check, Option
    from meshnb.diagnostics.checklist import Round
    from meshnb.diagnostics.finding import Finding
    from meshnb.diagnostics.registry import Registry
    from meshnb.diagnostics.report import Report

EXIT_ERROR = 2
#: Signals that stop meshnb the way Ctrl-C does (cleanup runs), exiting 128 + the signal's number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FIRST_NOTEBOOK = "notebooks/00-triage.ipynb"
DEMO_NOTEBOOK = "notebooks/demo-cross-cluster-balancing.ipynb"
DEMO_CULL_SECONDS = 120


def _option_arguments(option: Option) -> dict[str, Any]:
    """argparse's keyword arguments for a check's option."""
    help_text = option.help or "default: %(default)s"
    if isinstance(option.default, bool):
        return {"action": "store_true", "help": option.help or None}
    kind = int if isinstance(option.default, int) else str
    return {"type": kind, "default": option.default, "help": help_text}


def _add_samples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        action="store_true",
        help="with --json: include a row for every request sent (left out by default, their count given)",
    )


def _parser(checks: Registry) -> argparse.ArgumentParser:
    from meshnb.backends.sim import SCENARIOS

    parser = argparse.ArgumentParser(prog="meshnb", description="Troubleshoot Istio multicluster meshes.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="run every read-only check and print the list (or, given a name, one check in full)",
        usage="%(prog)s (--simulate SCENARIO | --lab SCENARIO | --context CONTEXT ...) [--requests N]\n"
        "                    [-o {table,short,json}] [--wait TIME]\n"
        "       %(prog)s NAME ... (the options of one check: meshnb check NAME --help)",
        description="With no check name: run every check that changes nothing, and print a line per "
        "check (√ pass, ‼ warn, × fail or error, - not run) with a hint under each that did not pass. "
        "With a name: run that check and print what it found in full.",
    )
    _add_check_list(check, SCENARIOS)
    commands_of_check = check.add_subparsers(dest="check", metavar="NAME")
    for name, spec in checks.items():
        sub = commands_of_check.add_parser(name, help=spec.help, description=spec.help)
        _add_target(sub, SCENARIOS)
        for option in spec.options:
            sub.add_argument(option.flag, **_option_arguments(option))
        sub.add_argument("--json", action="store_true", help="print the finding as JSON")
        _add_samples(sub)
        sub.add_argument(
            "--show-commands",
            action="store_true",
            help="print the kubectl and istioctl commands that gather the same evidence by hand; run nothing",
        )
    triage = commands.add_parser(
        "triage",
        help="run every check in the guide's order and name the most likely cause",
        description="Run every check in the guide's order and name the most likely cause.",
    )
    _add_target(triage, SCENARIOS)
    triage.add_argument(
        "--allow-changes",
        action="store_true",
        help="also run the connectivity probe (creates a namespace with pods, then deletes it)",
    )
    triage.add_argument(
        "--requests", type=int, default=100, help="requests per cluster (default: %(default)s)"
    )
    triage.add_argument(
        "--save", metavar="PATH", help="write a snapshot of everything seen (meshnb.load reads it)"
    )
    triage.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_samples(triage)
    report = commands.add_parser(
        "report", help="show a snapshot's diagnosis; --html writes it as one self-contained page"
    )
    report.add_argument("snapshot", help="a snapshot written by `meshnb triage --save` or Report.save")
    report.add_argument(
        "--html", metavar="OUT", help="write the report to this HTML file, one self-contained page"
    )
    report.add_argument(
        "--full",
        action="store_true",
        help="with --html: add the interactive plots (plotly.js, 5 MB) and every request's row",
    )
    from meshnb.readers.detect import KINDS

    read = commands.add_parser(
        "read",
        help="show what meshnb makes of an output saved to a file (endpoints, certificates, logs, curl)",
        description="Read an output you saved (istioctl, Envoy, kubectl, curl, istiod's log), its kind "
        "detected, and show the rows meshnb makes of it.",
    )
    read.add_argument("file", help="the file to read, or - for standard input")
    read.add_argument(
        "--as", dest="kind", choices=[kind.name for kind in KINDS], help="its kind (default: detected)"
    )
    read.add_argument("--json", action="store_true", help="print the reading as JSON")
    commands.add_parser("scenarios", help="list the simulated mesh's scenarios")
    lab = commands.add_parser(
        "lab", help="open JupyterLab on meshnb's notebooks (they run on the simulated mesh by default)"
    )
    lab.add_argument("--notebook", default=FIRST_NOTEBOOK, help="notebook to open (default: %(default)s)")
    lab.add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab`, e.g. --no-browser"
    )
    demo = commands.add_parser(
        "demo", help="serve the cross-cluster balancing demo with Voila: a page of controls and a live chart"
    )
    demo.add_argument(
        "--backend",
        choices=("sim", "lab"),
        default="sim",
        help="the simulated mesh, or the lab's real Envoys (needs meshnb[lab]) (default: %(default)s)",
    )
    demo.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to `voila`, e.g. --port 8866")
    return parser


def _add_check_list(check: argparse.ArgumentParser, scenarios) -> None:
    """The options of ``meshnb check`` with no name: the target, --requests, --output and --wait."""
    _add_target(check, scenarios, required=False)  # each check's own parser requires its target
    check.add_argument(
        "--requests", type=int, default=100, help="requests per cluster (default: %(default)s)"
    )
    check.add_argument(
        "-o",
        "--output",
        choices=("table", "short", "json"),
        help="table: every check (the default); short: only the problems; json: the list as JSON",
    )
    check.add_argument(
        "--wait",
        metavar="TIME",
        help="run the list again (every 5 s) until no check fails or TIME is up: 90s, 5m, 1h, seconds",
    )


def _add_target(sub: argparse.ArgumentParser, scenarios, *, required: bool = True) -> None:
    """--simulate SCENARIO | --context A --context B, with --kubeconfig and --seed."""
    target = sub.add_mutually_exclusive_group(required=required)
    target.add_argument(
        "--simulate",
        metavar="SCENARIO",
        choices=sorted(scenarios),
        help="use the simulated mesh: %(choices)s",
    )
    target.add_argument(
        "--lab",
        metavar="SCENARIO",
        choices=sorted(scenarios),
        help="start the lab (real Envoys on this machine, needs meshnb[lab]) with a scenario",
    )
    target.add_argument(
        "--context", action="append", metavar="CONTEXT", help="a kubeconfig context (repeat for each cluster)"
    )
    sub.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    sub.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="with --context: the most one API call may take, start to end (default: %(default)s)",
    )
    sub.add_argument("--seed", type=int, default=0, help="seed of the simulated mesh (default: %(default)s)")


def _serve(app: str, notebook: str, extra: list[str]) -> int:
    """Replace this process with JupyterLab (rooted at the project) or Voila, opening ``notebook``."""
    root = Path(__file__).resolve().parents[1]
    if not (root / notebook).is_file():
        print(
            f"meshnb: error: {notebook} not found under {root} (run from a checkout of meshnb)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    extra = [arg for arg in extra if arg != "--"]
    if app == "voila":
        # a kernel no page is connected to, idle for 2 minutes, is shut down (the demo stops its traffic
        # once its page is gone, so its kernel goes idle); the same option after the `--` replaces it
        culling = {
            "--MappingKernelManager.cull_idle_timeout": str(DEMO_CULL_SECONDS),
            "--MappingKernelManager.cull_interval": "30",
        }
        given = {arg.split("=", 1)[0] for arg in extra}
        argv = [sys.executable, "-m", "voila", notebook]
        argv += [f"{flag}={value}" for flag, value in culling.items() if flag not in given]
    else:
        # the notebook's own URL is where a browser opens and what a headless server prints
        argv = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.default_url=/lab/tree/{urllib.parse.quote(notebook)}",
            f"--ContentsManager.pre_save_hook={clean_save.HOOK}",  # the shipped notebooks stay clean
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv.append("--allow-root")  # containers and CI machines often run as root
    argv += extra
    os.chdir(root)
    os.execv(sys.executable, argv)


def _mesh(args: argparse.Namespace):
    """The mesh the target options name; use it in a with-block (the lab stops its processes)."""
    from meshnb.backends import open_mesh

    if args.simulate:
        return open_mesh("sim", scenario=args.simulate, seed=args.seed)
    if args.lab:
        return open_mesh("lab", scenario=args.lab, seed=args.seed)
    if not 0 < args.timeout <= 3600:
        raise ConfigError(f"--timeout must be between 0 and 3600 seconds, not {args.timeout:g}")
    return open_mesh("kube", contexts=args.context, kubeconfig=args.kubeconfig, timeout=args.timeout)


def _split_table(finding) -> list[str]:
    split = finding.evidence.get("split")
    if split is None or not len(split):
        return []
    shown = split.assign(
        share=(split["share"] * 100).round(1),
        ci=[
            f"{lo * 100:.1f}-{hi * 100:.1f}" for lo, hi in zip(split["ci_low"], split["ci_high"], strict=True)
        ],
        expected=(split["expected_share"] * 100).round(1),
    )
    columns = ["source_cluster", "version", "dest_cluster", "count", "share", "ci", "expected"]
    return [
        "",
        "Split of successful responses (%, 95% Wilson interval):",
        *_text_table(shown[columns]),
    ]


#: The widest a table cell is shown; a longer one is cut there with a mark, its whole text under the table.
CELL_WIDTH = 60


def _width() -> int:
    """The terminal's columns (``COLUMNS``, or 100 when the output is not a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def _wrap(text: str, indent: int) -> str:
    """``text`` wrapped to the terminal, lines after the first indented by ``indent`` spaces."""
    return textwrap.fill(  # a URL or a command's word is never split
        text,
        max(_width(), indent + 40),
        subsequent_indent=" " * indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _wrap_step(text: str, indent: int) -> str:
    """A next step wrapped as :func:`_wrap` does, each command (between backticks) kept on one line.

    >>> command = " ".join(["kubectl get pods"] * 30)
    >>> any(command in line for line in _wrap_step(f"Run `{command}` in each cluster.", 5).splitlines())
    True
    """
    whole = re.sub(r"`[^`]+`", lambda command: command.group().replace(" ", "\0"), text)
    return _wrap(whole, indent).replace("\0", " ")


def _text(value: object) -> str:
    """A cell as text: missing values (None, NaN, NaT, pd.NA) are empty."""
    import pandas as pd

    try:
        missing = value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell: not a missing scalar
        missing = False
    return "" if missing else str(value)


def _text_table(table: pd.DataFrame) -> list[str]:
    """``table`` as aligned text; a cell longer than :data:`CELL_WIDTH` ends in a mark, its text below.

    >>> import pandas as pd
    >>> table, note = _text_table(pd.DataFrame({"cluster": ["c1", "c2"], "detail": ["ok", "no " * 30]}))
    >>> table.splitlines()[2].endswith("no … [1]"), note == "[1] " + ("no " * 30).strip()
    (True, True)
    """
    notes: list[str] = []

    def cell(value: object) -> str:
        text = _text(value)
        if len(text) <= CELL_WIDTH:
            return text
        notes.append(text)
        mark = f"… [{len(notes)}]"
        head = text[: CELL_WIDTH - len(mark)]
        return (head.rsplit(" ", 1)[0] + " " if " " in head[-15:] else head) + mark  # cut between words

    lines = [table.astype(object).map(cell).to_string(index=False)]
    return lines + [_wrap(f"[{i}] {note}", 4) for i, note in enumerate(notes, 1)]


def _table(finding: Finding, spec: Check) -> str:
    """A readable plain-text report of a finding: its headline and summary, the check's tables, next steps."""
    lines = [_wrap(f"{finding.status.upper()}: {finding.headline}", 2)]
    if finding.summary != finding.headline:
        lines.append(_wrap(f"  {finding.summary}", 2))
    for name, columns in spec.tables:
        table = finding.evidence.get(name)
        if table is not None and len(table):
            lines += ["", f"{name}:", *_text_table(table[list(columns or table.columns)])]
    lines += _split_table(finding)
    if finding.next_steps:
        lines += ["", "Next steps:"] + [
            _wrap_step(f"  {i}. {step}", 5) for i, step in enumerate(finding.next_steps, 1)
        ]
    return "\n".join(lines)


def _progress(cluster: str, done: int, total: int) -> None:
    print(f"\r{cluster}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr)


def _triage_progress(check: str, cluster: str, done: int, total: int) -> None:
    if not cluster:
        print(f"== {check}", file=sys.stderr)
    else:
        _progress(cluster, done, total)


def _triage_text(report) -> str:
    """The diagnosis first (each cause with its evidence and next step), then a line per check."""
    lines = [_wrap(f"{report.status.upper()}: {report.diagnosis.summary}", 2)]
    for i, cause in enumerate(report.diagnosis.causes, 1):
        lines += ["", _wrap(f"{i}. {cause.title}" + (" (by design)" if cause.by_design else ""), 3)]
        lines += [_wrap(f"   - {line}", 5) for line in cause.evidence]
        lines.append(_wrap_step(f"   next: {cause.next_step}", 9))
    lines += ["", "Checks:"]
    lines += [_wrap(f"  {name:15} {f.status:7} {f.headline}", 26) for name, f in report.findings.items()]
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    from meshnb.diagnostics.report import load
    from meshnb.html_report import write_html

    try:
        report = load(args.snapshot)
    except (MeshnbError, OSError) as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(_triage_text(report))
    if args.html:
        try:
            print(f"report written to {write_html(report, args.html, full=args.full)}", file=sys.stderr)
        except (MeshnbError, OSError) as exc:
            print(f"meshnb: error: the HTML report was not written: {exc}", file=sys.stderr)
            return EXIT_ERROR
    return report.exit_code


#: The largest file ``meshnb read`` reads (a paste, not a dump of a whole cluster).
MAX_READ_BYTES = 64 * 1024 * 1024


def _read_input(name: str) -> str:
    """The text of ``name`` (``-``: standard input), refused past :data:`MAX_READ_BYTES`."""
    stream = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 (closed below)
    with stream:
        data = stream.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise ConfigError(f"{name} is larger than {MAX_READ_BYTES // 2**20} MiB: not read")
    return data.decode("utf-8", errors="replace")


def _read(args: argparse.Namespace) -> int:
    from meshnb.readers.detect import read_any

    try:
        reading = read_any(_read_input(args.file), args.kind)
    except OSError as exc:
        print(f"meshnb: error: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except MeshnbError as exc:
        print(f"meshnb: error: {args.file}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(reading.to_dict(), indent=2, default=str))
        return 0
    rows = len(reading.frame)
    lines = [f"{args.file}: {reading.title}: {rows} row{'' if rows == 1 else 's'}"]
    if rows:  # columns this input has no value for are left out
        lines += [
            "",
            *_text_table(reading.frame.loc[:, reading.frame.astype(object).map(_text).ne("").any()]),
        ]
    notes = [f"{key}: {value}" for key, value in reading.notes.items() if value]
    lines += ["", *notes] if notes else []
    print("\n".join(lines))
    return 0


def _triage(args: argparse.Namespace) -> int:
    from meshnb.diagnostics.triage import triage

    try:
        with _mesh(args) as mesh:
            report = triage(
                mesh,
                allow_changes=args.allow_changes,
                requests=args.requests,
                progress=_triage_progress if sys.stderr.isatty() and not args.json else None,
            )
    except (MeshnbError, ValueError, OSError, RuntimeError) as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        json.dumps(report.to_dict(args.samples), indent=2, default=str) if args.json else _triage_text(report)
    )
    if args.save:  # after the result is shown: a save that fails loses nothing the user could read
        try:
            print(f"snapshot written to {report.save(args.save)}", file=sys.stderr)
        except (MeshnbError, OSError) as exc:
            print(f"meshnb: error: the snapshot was not saved: {exc}", file=sys.stderr)
            return EXIT_ERROR
    return report.exit_code


def _check_list(args: argparse.Namespace, checks: Registry) -> int:
    """``meshnb check`` with no name: the list of every check, read-only, again and again with --wait."""
    from meshnb.diagnostics.checklist import parse_duration

    if not (args.simulate or args.lab or args.context):
        print(
            "meshnb: error: meshnb check needs a mesh: "
            "--simulate SCENARIO, --lab SCENARIO or --context CONTEXT",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        seconds = parse_duration(args.wait) if args.wait else 0.0
    except ValueError as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        with _mesh(args) as mesh:
            return _show_rounds(args, mesh, seconds, checks)
    except (MeshnbError, ValueError, OSError, RuntimeError) as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _show_rounds(args: argparse.Namespace, mesh: Mesh, seconds: float, checks: Registry) -> int:
    """Run the rounds and return the last one's exit code.

    A round's list is printed when it differs from the one printed before, and the last one always.
    """
    from meshnb.diagnostics import checklist
    from meshnb.diagnostics.triage import triage

    def run() -> Report:
        progress = _triage_progress if sys.stderr.isatty() and args.output != "json" else None
        return triage(mesh, allow_changes=False, requests=args.requests, progress=progress, checks=checks)

    shown, exit_code = None, EXIT_ERROR
    for round_ in checklist.rounds(run, seconds):
        rows, exit_code = checklist.rows(round_.report, checks), round_.report.exit_code
        if args.output == "json":
            if round_.last:
                waited = {"rounds": round_.number, "seconds": round(round_.seconds, 1)} if args.wait else {}
                print(json.dumps({**checklist.to_dict(rows), **waited}, indent=2, ensure_ascii=False))
        elif rows != shown or (round_.last and round_.number > 1):
            heading = _round_heading(round_) if args.wait else ""
            text = checklist.text(rows, short=args.output == "short", width=_width())
            print(f"{heading}\n{text}" if heading else text, flush=True)
            shown = rows
    return exit_code


def _round_heading(round_: Round) -> str:
    """Which round a printed list is, how long after the start, and why it is the last."""
    why = ""
    if round_.last:
        why = ": no check fails" if round_.report.exit_code == 0 else ": the time is up"
    seconds = f"{round_.seconds:.1f}" if round_.seconds < 10 else f"{round_.seconds:.0f}"
    return f"== round {round_.number}, {seconds} s after the start{why}"


class SaidOnce(logging.Filter):
    """Lets the first warning that a cluster is unreachable (or timed out) through, and drops its repeats.

    Each check tells of the same dead API server again; a person needs to read it once.

    >>> from meshnb.errors import Unreachable
    >>> once = SaidOnce()
    >>> def record(error):
    ...     return logging.makeLogRecord({"msg": str(error), "cluster_error": error})
    >>> [once.filter(record(Unreachable("c1", f"{what}: cannot reach https://a"))) for what in ("pods", "x")]
    [True, False]
    >>> once.filter(record(Unreachable("c2", "pods: cannot reach https://b")))
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self._said: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat: the same cluster, the same reason."""
        error = getattr(record, "cluster_error", None)
        if not isinstance(error, (Unreachable, ClusterTimeout)):
            return True
        key = (error.cluster, error.reason)
        if key in self._said:
            return False
        self._said.add(key)
        return True


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt would be, so cleanup runs alike."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


#: Signals whose Interrupted landed in a finalizer (Python prints and drops an exception raised there):
#: the command ran on, and says it was interrupted when it ends.
_DROPPED: list[int] = []


def _unraisable(info: Any, previous: Callable[[Any], None] = sys.unraisablehook) -> None:
    """``sys.unraisablehook``: an interruption raised inside a finalizer is noted, not printed."""
    if isinstance(info.exc_value, KeyboardInterrupt):
        _DROPPED.append(getattr(info.exc_value, "signum", signal.SIGINT))
        return
    previous(info)


def _say(text: str) -> None:
    """A last line on stderr, which may be gone (a closed terminal, a closed pipe)."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, checks: Registry | None = None) -> int:
    """Entry point of the ``meshnb`` command; returns the exit code.

    It never shows a traceback: an interruption (Ctrl-C, SIGTERM, SIGHUP) exits 128 + its signal after
    cleanup, an unexpected error exits 2 with one line (``-vv`` logs its traceback). The signal handlers
    it sets are put back when it returns, unless it was interrupted (then the process is on its way
    out). ``checks`` are the checks ``meshnb check`` offers (default: the registry's).
    """
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS[1:]}
    hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    _DROPPED.clear()
    try:
        code = _main(argv, checks)
        if not _DROPPED:
            return code
        signum = _DROPPED[0]  # the command ran to its end (its cleanup too), but it was interrupted
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    except BrokenPipeError:  # the reader went away (`meshnb ... | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line rather than a traceback; -vv shows where
        logging.getLogger("meshnb").debug("unexpected error", exc_info=True)
        _say(f"meshnb: internal error: {type(exc).__name__}: {str(exc)[:300]} (run with -vv for details)")
        return EXIT_ERROR
    finally:
        sys.unraisablehook = hook
        for signum_, handler in previous.items():
            signal.signal(signum_, handler)
    for stop in STOP_SIGNALS:  # cleanup is done: another Ctrl-C must not interrupt the exit
        signal.signal(stop, signal.SIG_IGN)
    _say(f"meshnb: interrupted ({signal.Signals(signum).name})")
    return 128 + signum


def _main(argv: Sequence[str] | None, checks: Registry | None = None) -> int:
    from meshnb.diagnostics.registry import CHECKS

    checks = CHECKS if checks is None else checks
    args = _parser(checks).parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(SaidOnce())
    if args.command == "scenarios":
        from meshnb.backends.sim import SCENARIO_DESCRIPTIONS

        for name, description in SCENARIO_DESCRIPTIONS.items():
            print(f"{name:24} {description}")
        return 0
    if args.command == "lab":
        return _serve("jupyterlab", args.notebook, args.jupyter_args)
    if args.command == "demo":
        os.environ["MESHNB_BACKEND"] = args.backend  # read by the notebook's parameters cell
        return _serve("voila", DEMO_NOTEBOOK, args.jupyter_args)
    if args.command == "triage":
        return _triage(args)
    if args.command == "report":
        return _report(args)
    if args.command == "read":
        return _read(args)
    if args.check is None:
        return _check_list(args, checks)
    if args.output or args.wait:
        print(
            f"meshnb: error: --output and --wait are options of the list (`meshnb check` with no name); "
            f"`meshnb check {args.check}` has --json",
            file=sys.stderr,
        )
        return EXIT_ERROR
    spec = checks[args.check]
    options = {option.name: getattr(args, option.name) for option in spec.options}
    if args.show_commands:
        from meshnb.diagnostics.by_hand import commands

        try:
            with _mesh(args) as mesh:
                print("\n".join(commands(spec, mesh, options)))
        except (MeshnbError, ValueError, RuntimeError) as exc:
            print(f"meshnb: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        return 0
    try:
        with _mesh(args) as mesh:
            finding = spec.function(
                mesh, **options, progress=_progress if sys.stderr.isatty() and not args.json else None
            )
    except (MeshnbError, ValueError, RuntimeError) as exc:
        print(f"meshnb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        json.dumps(finding.to_dict(samples=args.samples), indent=2, default=str)
        if args.json
        else _table(finding, spec)
    )
    return finding.exit_code


if __name__ == "__main__":
    sys.exit(main())
