"""One registry of checks: a check declared once reaches the CLI, triage, the panels and the exports;
the diagnosis reads reasons and numbers, not sentences; triage reads each proxy once."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pandas as pd
import pytest

import meshnb
from meshnb import panels
from meshnb.backends.sim import SCENARIOS
from meshnb.cli import main
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.diagnosis import diagnose
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.registry import CHECKS, MODULES, Registry
from meshnb.diagnostics.triage import triage
from meshnb.schemas import REASONS, SCHEMAS, schema_name

CALLS: list[dict] = []
DOWN: set[str] = set()  # clusters the toy check cannot read


def check_toy(mesh, greeting: str = "hello", times: int = 1, loud: bool = False, progress=None) -> Finding:
    """A toy check: every cluster says ``greeting``; a cluster in ``DOWN`` is an error row."""
    CALLS.append({"greeting": greeting, "times": times, "loud": loud})
    down = DOWN
    rows = [
        {
            "name": name,
            "status": "error" if name in down else "pass",
            "reason": "unreachable" if name in down else "ok",
            "detail": "no answer" if name in down else (greeting.upper() if loud else greeting) * times,
        }
        for name in mesh.clusters
    ]
    return Finding("toy", "pass", f"{greeting} from every cluster", evidence={"rows": pd.DataFrame(rows)})


TOY = Check(
    "toy",
    check_toy,
    "say hello from every cluster",
    options=(Option("greeting", "hello"), Option("times", 1, minimum=1, maximum=5), Option("loud", False)),
    tables=(("rows", ("name", "status", "reason", "detail")),),
    verdicts=("rows", "name"),
)


@pytest.fixture
def registry() -> Registry:
    CALLS.clear()
    DOWN.clear()
    return CHECKS.with_check(TOY)


def test_a_toy_check_reaches_the_cli(registry, capsys):
    assert (
        main(
            ["check", "toy", "--simulate", "healthy", "--greeting", "hi", "--times", "2", "--loud"],
            checks=registry,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "PASS: hi from every cluster" in out and "HIHI" in out
    assert CALLS == [{"greeting": "hi", "times": 2, "loud": True}]
    with pytest.raises(SystemExit) as exit_:  # not in the real registry
        main(["check", "toy", "--simulate", "healthy"])
    assert exit_.value.code == 2 and "invalid choice: 'toy'" in capsys.readouterr().err


def test_a_toy_check_reaches_the_check_list(registry, capsys):
    """Without a guide section of its own it is under its name, with nothing to look up."""
    assert main(["check", "--simulate", "healthy", "--requests", "10"], checks=registry) == 0
    out = capsys.readouterr().out
    assert "toy\n---\n√ toy: hello from every cluster\n" in out and out.count("for hints") == 0


def test_a_toy_check_reaches_triage_and_the_diagnosis(registry):
    report = triage(meshnb.simulate("healthy"), checks=registry)
    assert list(report.findings) == [*CHECKS, "toy"]
    assert report.findings["toy"].summary == "hello from every cluster"
    # its verdict table is the one it declares: an error row there is a cluster that could not be checked
    DOWN.add("cluster2")
    broken = triage(meshnb.simulate("healthy"), checks=registry)
    (cause,) = [c for c in broken.diagnosis.causes if c.key == "unreachable"]
    assert cause.clusters == ("cluster2",) and cause.evidence == ["cluster2: toy: no answer"]
    assert triage(meshnb.simulate("healthy")).findings.keys() == CHECKS.keys()


def test_a_toy_check_reaches_the_panels(registry):
    assert "ToyPanel" in panels.panel_names(registry) and "ToyPanel" not in panels.__all__
    cls = panels.panel("ToyPanel", registry)
    panel = cls(meshnb.simulate("healthy"), greeting="hey")
    assert [type(w).__name__ for w in (panel.greeting, panel.times, panel.loud)] == [
        "Text",
        "BoundedIntText",
        "Checkbox",
    ]
    panel.times.value = 3
    finding = panel.run()
    assert finding.status == "pass" and finding.summary == "hey from every cluster"
    assert CALLS == [{"greeting": "hey", "times": 3, "loud": False}]
    assert panel.tab.titles == ("Summary", "Rows")
    with pytest.raises(TypeError, match="no option"):
        cls(meshnb.simulate("healthy"), colour="red")


def test_a_toy_check_reaches_the_exports(registry):
    assert meshnb.exports(registry)["check_toy"] is check_toy
    assert "check_toy" not in meshnb.exports()


def test_the_registry_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="two checks"):
        CHECKS.with_check(dataclasses.replace(TOY, name="trust"))
    with pytest.raises(ValueError, match="must come before"):
        Registry([dataclasses.replace(TOY, needs=("endpoints",))])
    assert len(MODULES) == len(CHECKS)


def test_every_check_declares_its_verdict_table_with_reasons():
    for check in CHECKS.values():
        table, key = check.verdicts
        schema = SCHEMAS[schema_name(check.name, table)]
        assert key in schema and "reason" in schema, check.name
        for name, columns in check.tables:  # the CLI prints columns that exist
            declared = schema_name(check.name, name)
            if declared and columns:
                assert set(columns) <= set(SCHEMAS[declared]), (check.name, name)


def _every_situation():
    for scenario in SCENARIOS:
        yield scenario, meshnb.simulate(scenario), False
    yield "firewall+probe", meshnb.simulate("firewall"), True
    yield "several", meshnb.simulate("trust-mismatch", remote_secret_wrong_key=("cluster2",)), False
    yield "no cacerts", meshnb.simulate("healthy", missing_cacerts=("cluster2",)), False
    yield "unreachable", meshnb.simulate("missing-remote-secret", unreachable=("cluster2",)), False


def _reworded(finding: Finding) -> Finding:
    evidence = {
        name: table.assign(detail="(reworded)") if "detail" in table else table
        for name, table in finding.evidence.items()
    }
    return dataclasses.replace(
        finding, summary="(reworded)", next_steps=["(reworded)"] * len(finding.next_steps), evidence=evidence
    )


def _decided(diagnosis):
    return [(c.key, c.title, c.clusters, c.next_step, c.by_design, len(c.evidence)) for c in diagnosis.causes]


def test_the_diagnosis_reads_reasons_not_sentences():
    seen = set()
    for label, mesh, allow in _every_situation():
        report = triage(mesh, allow_changes=allow, requests=30)
        reworded = {name: _reworded(f) for name, f in report.findings.items()}
        assert _decided(diagnose(reworded)) == _decided(report.diagnosis), label
        seen |= {c.key for c in report.diagnosis.causes}
        for check in CHECKS.values():
            table, _key = check.verdicts
            frame = report.findings[check.name].evidence.get(table)
            if frame is not None:
                assert set(frame["reason"]) <= set(REASONS), (label, check.name)
    # the situations cover every kind of cause the diagnosis names
    assert seen >= {
        "network",
        "trust",
        "remote-secret-missing",
        "remote-secret-key",
        "remote-token-expired",
        "remote-token-rejected",
        "remote-forbidden",
        "remote-server-loopback",
        "istiod-down",
        "locality",
        "unreachable",
        "sameness",
    }


def test_triage_reads_each_proxy_once(monkeypatch):
    mesh = meshnb.simulate("locality-prefer-local")
    reads: Counter = Counter()
    for name, cluster in mesh.clusters.items():
        original = cluster.exec

        def counting(namespace, pod, argv, *args, _original=original, _name=name, **kwargs):
            if any("clusters?format=json" in arg for arg in argv):
                reads[(_name, pod)] += 1
            return _original(namespace, pod, argv, *args, **kwargs)

        monkeypatch.setattr(cluster, "exec", counting)
    report = triage(mesh, requests=20)
    assert (
        report.findings["locality"]
        .evidence["endpoints"]
        .equals(report.findings["endpoints"].evidence["endpoints"])
    )
    assert len(reads) == len(mesh.clusters) and set(reads.values()) == {1}, reads
    # on its own, the locality check still reads the proxies itself
    reads.clear()
    assert meshnb.check_locality(mesh).status == "warn"
    assert set(reads.values()) == {1} and len(reads) == len(mesh.clusters)
    # an endpoints Finding for another service is not reused
    reads.clear()
    other = dataclasses.replace(
        report.findings["endpoints"], details={"namespace": "sample", "service": "x", "port": 5000}
    )
    meshnb.check_locality(mesh, endpoints=other)
    assert len(reads) == len(mesh.clusters)


def test_snapshots_and_findings_from_before_reasons_still_load(tmp_path):
    """meshnb 0.1 wrote verdict tables without ``reason``: they load, with the reason missing."""
    from meshnb.diagnostics.report import Report, load

    report = triage(meshnb.simulate("missing-remote-secret"), allow_changes=True, requests=20)
    old = {}
    for name, finding in report.findings.items():
        table, _key = CHECKS[name].verdicts
        evidence = {
            t: df.drop(columns="reason") if t == table and "reason" in df else df
            for t, df in finding.evidence.items()
        }
        old[name] = dataclasses.replace(finding, evidence=evidence)
    assert any("reason" not in f.evidence[CHECKS[n].verdicts[0]] for n, f in old.items())
    loaded = load(Report(old, report.diagnosis, report.metadata).save(tmp_path / "old.meshnb"))
    assert loaded.diagnosis.to_dict() == report.diagnosis.to_dict()
    for name, finding in loaded.findings.items():
        table = finding.evidence[CHECKS[name].verdicts[0]]
        assert table["reason"].isna().all() and list(table.columns) == list(
            report.findings[name].evidence[CHECKS[name].verdicts[0]].columns
        )
        again = Finding.from_json(old[name].to_json())
        assert again.evidence[CHECKS[name].verdicts[0]]["reason"].isna().all()
    # a table of another shape is still refused
    broken = {
        **old,
        "trust": dataclasses.replace(old["trust"], evidence={"clusters": pd.DataFrame({"x": [1]})}),
    }
    with pytest.raises(meshnb.ConfigError, match="is not a clusters table"):
        load(Report(broken, report.diagnosis, report.metadata).save(tmp_path / "broken.meshnb"))


def test_every_option_is_a_keyword_of_its_check_with_the_same_default():
    """The CLI and the panels show the defaults the functions use: declared twice, so held equal here."""
    import inspect

    for check in CHECKS.values():
        parameters = inspect.signature(check.function).parameters
        for option in check.options:
            assert option.name in parameters, (check.name, option.name)
            assert parameters[option.name].default == option.default, (check.name, option.name)
