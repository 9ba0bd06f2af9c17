"""The curl of the simulated pods: the options meshnb uses, its error messages and ``--write-out``.

Each URL is one transfer, made by whatever carries the pod's traffic (:mod:`meshnb.backends.sim.sidecar`
for the modelled sidecar); what curl prints around the transfers, and its exit code, is modelled here.

>>> def answer(url: str, max_time: float) -> Outcome:
...     return Outcome(200, "Hello version: v1, instance: helloworld-v1-x\\n", 4.5)
>>> run(["-s", "-w", "%{http_code} %{time_total}\\n", "http://helloworld:5000/hello"], answer)
('Hello version: v1, instance: helloworld-v1-x\\n200 0.004500\\n', '', 0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = ["MESHNB_WRITE_OUT", "Outcome", "fill_write_out", "run", "timed_out"]

#: The ``--write-out`` meshnb's checks pass (``meshnb.readers.curl.CURL_WRITE_OUT``; a test keeps
#: them equal): a marker line with status, seconds, exit code and error message after every transfer.
MESHNB_WRITE_OUT = "\n@@meshnb@@ %{http_code} %{time_total} %{exitcode} %{errormsg}\n"


class Outcome(NamedTuple):
    """One transfer as curl sees it: HTTP status (0: none), body, milliseconds, exit code, message."""

    status: int
    body: str
    ms: float
    exit_code: int = 0
    message: str = ""


def fill_write_out(
    http_code: str, time_total: str, exitcode: str, errormsg: str, template: str = MESHNB_WRITE_OUT
) -> str:
    """What curl prints for ``template`` (a --write-out format) with these variables' values.

    >>> fill_write_out("200", "0.012", "0", "")
    '\\n@@meshnb@@ 200 0.012 0 \\n'
    """
    return (
        template.replace("%{http_code}", http_code)
        .replace("%{time_total}", time_total)
        .replace("%{exitcode}", exitcode)
        .replace("%{errormsg}", errormsg)
    )


def timed_out(max_time: float) -> Outcome:
    """curl giving up after ``--max-time`` with nothing received (exit 28)."""
    waited = int(max_time * 1000) + 1
    return Outcome(
        0, "", waited, 28, f"Operation timed out after {waited} milliseconds with 0 bytes received"
    )


def run(args: Sequence[str], transfer: Callable[[str, float], Outcome]) -> tuple[str, str, int]:
    """curl with ``args``: (stdout, stderr, exit code); ``transfer(url, max_time)`` makes each request."""
    write_out, max_time, urls, show_errors = "", 300.0, [], False
    items = iter(args)
    for arg in items:
        if arg in ("-s", "--silent"):
            continue
        if arg in ("-sS", "-S", "--show-error"):
            show_errors = True
        elif arg in ("-w", "--write-out"):
            write_out = next(items, "")
        elif arg in ("-m", "--max-time"):
            try:
                max_time = float(next(items, "x"))
            except ValueError:
                return "", "curl: (2) option --max-time: expected a proper numerical parameter", 2
        elif arg.startswith("-"):
            return "", f"curl: option {arg}: is unknown", 2
        else:
            urls.append(arg)
    if not urls:
        return "", "curl: no URL specified", 2
    out, err, code = [], [], 0
    for url in urls:
        status, body, ms, exit_code, message = transfer(url, max_time)
        out.append(body)
        if exit_code and show_errors:
            err.append(f"curl: ({exit_code}) {message}\n")
        code = exit_code or code
        out.append(
            fill_write_out(f"{status:03d}", f"{ms / 1000:.6f}", str(exit_code), message, template=write_out)
        )
    return "".join(out), "".join(err), code
