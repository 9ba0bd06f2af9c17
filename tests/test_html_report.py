"""The HTML report: one self-contained file, every text escaped, written atomically, from the CLI."""

from __future__ import annotations

import html
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import meshnb
from meshnb.diagnostics.finding import Finding
from meshnb.html_report import diagnosis_html, report_html, write_html


def test_full_is_self_contained_with_plotly_once():
    page = report_html(meshnb.triage(meshnb.simulate("firewall")), full=True)
    assert '<script src="http' not in page and "<link" not in page
    assert page.count('class="plotly-graph-div"') == 3
    assert page.count("plotly.js v") == 1  # the library's banner: embedded once, not per figure


@pytest.mark.parametrize("scenario", ["missing-remote-secret", "healthy", "firewall"])
def test_the_compact_page_is_small_and_reads_as_text(scenario):
    """The post-incident notebook's demonstration snapshots; the default page, no plotly.js."""
    report = meshnb.triage(meshnb.simulate(scenario), requests=2000)
    page = report_html(report)
    assert len(page.encode()) < 1_000_000 and "plotly" not in page
    lb = report.findings["load-balancing"]
    assert "4000 requests were sent" in page and lb.evidence["samples"]["ts"].iloc[0].isoformat() not in page
    assert 'class="split"' in page
    for python in ("[&#x27;", "{&#x27;", "np.", "Timestamp(", "None</td>", "NaT", "&lt;NA&gt;"):
        assert python not in page, python
    assert "<tr><td>versions</td>" not in page  # the simulated mesh knows no Istio version
    report.metadata["versions"] = {"cluster1": "1.31.0", "cluster2": None}
    assert "<tr><td>versions</td><td>cluster1: 1.31.0</td></tr>" in report_html(report)


def test_text_from_the_cluster_is_escaped():
    report = meshnb.triage(meshnb.simulate())
    report.findings["trust"] = Finding(
        "trust", "fail", "<script>alert('x')</script>", next_steps=["<b>do</b>"]
    )
    page = report_html(report)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<b>do</b>" not in page


class _Commands(HTMLParser):
    """Each command container's code text and its copy button's data-copy; the page's scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str | None]] = []
        self.scripts = 0
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        if tag == "span" and attrs.get("class") == "meshnb-command":
            self.pairs.append(("", None))
        elif tag == "code" and self.pairs and self.pairs[-1][1] is None:
            self._in.append("code")
        elif tag == "button" and attrs.get("class") == "meshnb-copy":
            self.pairs[-1] = (self.pairs[-1][0], attrs["data-copy"])

    def handle_endtag(self, tag):
        if tag == "code" and self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._in:
            self.pairs[-1] = (self.pairs[-1][0] + data, self.pairs[-1][1])


def test_each_command_can_be_copied_from_the_page_and_is_code_in_a_notebook():
    report = meshnb.triage(meshnb.simulate("missing-remote-secret"), requests=30)
    hostile = """printf '%s' "<b>x</b>" && echo 'it'"s" & done"""
    report.findings["trust"] = Finding("trust", "fail", "bad", next_steps=[f"Run `{hostile}` once."])
    page = report_html(report)
    found = _Commands()
    found.feed(page)
    assert found.scripts == 1 and "navigator.clipboard.writeText" in page
    assert found.pairs and all(code == copy for code, copy in found.pairs), found.pairs
    copies = {copy for _, copy in found.pairs}
    assert hostile in copies and "<b>x</b>" not in page
    create = (
        "istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl --context=cluster1 apply"
    )
    assert f"{create} -f -" in copies  # the diagnosis's step and the checks'
    notebook = report.findings["trust"]._repr_html_()  # inline scripts may not run in an output area
    assert '<code class="meshnb-command">' in notebook and "<button" not in notebook
    assert "<script" not in notebook and "<b>x</b>" not in notebook
    panel = diagnosis_html(report)
    assert '<code class="meshnb-command">' in panel and "<button" not in panel and "<script" not in panel


def test_each_check_says_its_headline_then_its_summary():
    report = meshnb.triage(meshnb.simulate("trust-mismatch"), requests=30)
    page = report_html(report)
    trust = report.findings["trust"]
    headline = f"<strong>{html.escape(trust.headline)}</strong>"
    assert headline in page and page.index(headline) < page.index(f"<p>{html.escape(trust.summary)}</p>")


def test_long_tables_are_cut_and_say_so():
    report = meshnb.triage(meshnb.simulate(), requests=300)
    assert "400 more rows in the snapshot" in report_html(report, full=True)  # 2 x 300 samples, 200 shown


def test_write_is_atomic(tmp_path, monkeypatch):
    report = meshnb.triage(meshnb.simulate())
    target = write_html(report, tmp_path / "r.html")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("meshnb.html_report.report_html", boom)
    with pytest.raises(KeyboardInterrupt):
        write_html(report, target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_cli_report_from_a_snapshot(tmp_path):
    snapshot = meshnb.triage(meshnb.simulate("trust-mismatch")).save(tmp_path / "s.meshnb")
    out = tmp_path / "report.html"
    cli = [sys.executable, "-m", "meshnb.cli", "report", str(snapshot), "--html", str(out)]
    result = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and result.stdout.startswith("FAIL: most likely: the clusters do not share")
    assert "the clusters do not share a root of trust" in out.read_text()
    compact = out.stat().st_size
    assert subprocess.run([*cli, "--full"], capture_output=True, check=False).returncode == 1
    assert "plotly.js v" in out.read_text() and out.stat().st_size > 10 * compact
    bad = subprocess.run(
        [sys.executable, "-m", "meshnb.cli", "report", str(tmp_path / "nope.meshnb")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "not a meshnb snapshot" in bad.stderr
