"""istiod's remote-cluster lines as Istio's secret controller writes them (tests/data/real/istiod).

Expected readings come from the format strings in istio/istio's secretcontroller.go at each tag (see
tests/data/real/istiod/README.md), never from meshnb's output.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meshnb.errors import ParseError
from meshnb.readers.istiod_log import current_failures, parse_istiod_log, read_istiod_log
from meshnb.schemas import frame

DATA = Path(__file__).parent / "data" / "real" / "istiod"
S = "istio-system/istio-remote-secret-c2"
INVALID = "kubeconfig is not valid: invalid configuration"
CLIENTS = "failed to create kube clients: bad"
S2 = "istio-system/istio-remote-secret-c2-copy"
T = "2026-11-28T09:00:01.000000Z"  # the time every line of the files under DATA carries
SYNC = "remote cluster c2 failed to sync after 30s"  # PILOT_REMOTE_CLUSTER_TIMEOUT's default, 30s

EXPECTED = {
    "secretcontroller-1.15.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
        ("remote_clusters=0", None, None, None),
    ],
    "secretcontroller-1.16.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, "bad"),
        ("deleted", "c2", S, None),
    ],
    "secretcontroller-1.22.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
    ],
    "secretcontroller-1.30.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
    ],
    "json-1.22.0.log": [("update_failed", "c2", S, CLIENTS)],
    "kubectl-prefix-timestamps-1.16.0.log": [("add_failed", "c2", S, INVALID)],
    "secretcontroller-1.3.0.log": [
        ("secret_event", None, S, None),
        ("add_failed", "c2", S, "is not a valid kubeconfig: invalid configuration"),
        ("add_failed", "c3", S, "is not a kubeconfig: bad"),
        ("add_failed", "c4", S, "is empty, and disregarded"),
        ("added", "c2", None, None),
        ("add_failed", "c2", None, "bad"),
        ("add_failed", "c2", None, "bad"),
        ("already_registered", "c2", S, None),
        ("remote_clusters=1", None, None, None),
        ("secret_event", None, S, None),
        ("deleted", "c2", None, None),
        ("delete_failed", "c2", None, "bad"),
        ("remote_clusters=0", None, None, None),
    ],
    "secretcontroller-1.6.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("add_failed", "c2", S, "bad"),
        ("secret_event", None, S, None),
        ("unchanged", "c2", S, None),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, INVALID),
        ("update_failed", "c2", S, "bad"),
        ("already_registered", None, S2, None),
        ("remote_clusters=1", None, None, None),
        ("secret_event", None, S, None),
        ("deleted", "c2", S, None),
        ("delete_failed", "c2", S, "bad"),
        ("remote_clusters=0", None, None, None),
    ],
    "secretcontroller-1.10.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("add_failed", "c2", S, "bad"),
        ("unchanged", "c2", S, None),
        ("sync_timeout", None, None, "remote clusters failed to sync after 30s"),
        ("secret_failed", None, S, f"error fetching object {S} error: bad"),
        ("delete_failed", "c2", S, "bad"),
    ],
    "secretcontroller-1.14.0.log": [
        ("secret_event", None, S, None),
        ("ignored", "c1", S, None),
        ("unchanged", "c2", S, None),
        ("already_registered", "c2", S2, None),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("ignored", "c1", S, None),
    ],
    "secretcontroller-sync-1.16.0.log": [
        ("secret_event", None, S, None),
        ("ignored", "c1", S, None),
        ("unchanged", "c2", S, None),
        ("already_registered", "c2", S2, None),
        ("added", "c2", S, None),
        ("sync_timeout", "c2", None, SYNC),
        ("delete_failed", "c2", S, "bad"),
    ],
    "cluster-1.22.0.log": [
        ("added", "c2", S, None),
        ("sync_failed", "c2", None, "remote cluster c2 failed to sync"),
        ("sync_failed", "c2", None, "remote cluster c2 failed to sync handler"),
        ("sync_timeout", "c2", None, SYNC),
    ],
    "secretcontroller-1.31.0-rc.0.log": [
        ("sync_timeout", None, None, "Timed out waiting for remote config source to sync"),
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, CLIENTS),
        ("updated", "c2", S, None),
        ("sync_timeout", "c2", None, SYNC),
        (
            "sync_timeout",
            "c2",
            None,
            "remote cluster c2 is timed out, omitting it from the clusters collection",
        ),
        ("omitted", "c3", None, "remote cluster c3 is closed, omitting it from the clusters collection"),
        ("sync_failed", "c2", None, "remote cluster c2 failed to sync KRT collection Services"),
        ("sync_timeout", "c1", None, "Timed out waiting for cluster c1 to sync Services"),
        ("secret_failed", None, S, "bad"),
        ("deleted", "c2", S, None),
        ("remote_clusters=0", None, None, None),
    ],
    "json-1.6.0.log": [("added", "c2", S, None), ("add_failed", "c2", S, INVALID)],
    "json-1.31.0-rc.0.log": [("added", "c2", S, None), ("add_failed", "c2", S, CLIENTS)],
    "grep-n-1.22.0.log": [
        ("add_failed", "c2", S, INVALID),
        ("sync_timeout", "c2", None, SYNC),
        ("updated", "c2", S, None),
        ("deleted", "c2", S, None),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_line_is_read_as_the_event_it_is(name):
    rows = parse_istiod_log((DATA / name).read_text(), cluster="c1")
    got = [(r["event"], r["remote_cluster"], r["secret"], r["error"]) for r in rows]
    assert got == EXPECTED[name]
    assert all(r["ts"] == "2026-11-28T09:00:01.000000Z" for r in rows)


@pytest.mark.parametrize("name", [f"secretcontroller-1.{minor}.0.log" for minor in (15, 16, 22, 30)])
def test_a_failure_stands_until_superseded(name):
    lines = (DATA / name).read_text().splitlines()
    failed_add = "\n".join(lines[:3])
    assert [r["event"] for r in current_failures(parse_istiod_log(failed_add))] == ["add_failed"]
    failed_update = "\n".join(lines[:5])
    assert [r["event"] for r in current_failures(parse_istiod_log(failed_update))] == ["update_failed"]
    # a later attempt for the same cluster and secret supersedes the failure
    assert current_failures(parse_istiod_log("\n".join([*lines[:3], lines[3]]))) == []
    # so does the deletion
    assert current_failures(parse_istiod_log("\n".join([*lines[:5], lines[5]]))) == []


def test_a_users_paste_from_istio_issue_58047():
    # istio/istio#58047 (2025-10-23): lines without a scope field; `Update cluster` is the 1.22+ attempt.
    rows = parse_istiod_log((DATA / "issue-58047-paste.log").read_text())
    secret = "istio-system/istio-remote-secret-cluster1"
    assert [(r["event"], r["remote_cluster"], r["secret"]) for r in rows] == [
        ("secret_event", None, secret),
        ("updated", "cluster1", secret),
    ]


def test_an_old_users_paste_from_istio_issue_18503():
    # istio/istio#18503 (comment of 2019-11-01, control plane 1.3.3): the 1.3 to 1.5 lines, no scope field.
    df = read_istiod_log((DATA / "issue-18503-paste.log").read_text())
    rows = df[["event", "remote_cluster", "secret"]].astype(object).where(df.notna(), None)
    assert rows.values.tolist() == [
        ["secret_event", None, "istio-system/n2-k8s-secret"],
        ["added", "n2-k8s-secret", None],
        ["remote_clusters=1", None, None],
    ]
    assert str(df["ts"][0]) == "2019-11-01 07:48:11.204084+00:00"


def test_a_paste_whose_tabs_became_spaces_from_istio_issue_58445():
    # istio/istio#58445 (2025-11-30): the 1.22+ lines as pasted, each tab turned into spaces.
    rows = parse_istiod_log((DATA / "issue-58445-paste.log").read_text())
    secret = "istio-system/istio-remote-secret-cluster3"
    assert [(r["event"], r["remote_cluster"], r["secret"]) for r in rows] == [
        ("secret_event", None, secret),
        ("added", "cluster3", secret),
    ]


def _failures(text: str) -> list[tuple[str, str | None, str | None]]:
    return [(r["event"], r["remote_cluster"], r["error"]) for r in current_failures(parse_istiod_log(text))]


def test_old_failures_without_a_secret_stand_until_a_later_line_for_their_cluster():
    lines = (DATA / "secretcontroller-1.3.0.log").read_text().splitlines()
    # the Data lines name the secret; `error during create of ...` names only the cluster, and supersedes
    assert sorted(_failures("\n".join(lines[:7]))) == [
        ("add_failed", "c2", "bad"),
        ("add_failed", "c3", "is not a kubeconfig: bad"),
        ("add_failed", "c4", "is empty, and disregarded"),
    ]
    # `Processing delete: S` clears every cluster of S, the ones whose lines named no secret too
    assert _failures("\n".join(lines)) == []


def test_a_sync_timeout_stands_until_the_cluster_is_tried_again_or_its_secret_changes():
    lines = (DATA / "cluster-1.22.0.log").read_text().splitlines()
    assert _failures("\n".join(lines)) == [("sync_timeout", "c2", SYNC)]
    update = f"{T}\tinfo\tUpdate cluster\tcluster=c2 secret={S}"
    event = f"{T}\tinfo\tprocessing secret event for secret {S}"
    assert _failures("\n".join([*lines, update])) == []
    assert _failures("\n".join([*lines, event])) == []  # the timeout took the secret of the attempt
    # a sync failure (the cluster was stopped) and a timeout without a cluster are not standing failures
    assert _failures("\n".join(lines[:3])) == []
    old = (DATA / "secretcontroller-1.10.0.log").read_text().splitlines()
    assert _failures("\n".join(old[:-1])) == [("add_failed", "c2", "bad")]
    assert _failures("\n".join(old)) == []  # the deletion, failed or not, ends the cluster


def test_1_31_keeps_what_still_stands():
    text = (DATA / "secretcontroller-1.31.0-rc.0.log").read_text()
    assert _failures(text) == [("sync_timeout", "c1", "Timed out waiting for cluster c1 to sync Services")]


def test_a_log_with_lines_but_no_event_is_refused_naming_its_first_line():
    text = "\n\n2026-11-28T09:00:00Z\tinfo\tads\tPush debounce stable\nnot a log line\n"
    with pytest.raises(ParseError) as info:
        read_istiod_log(text)
    assert (
        info.value.lineno == 3 and info.value.line == "2026-11-28T09:00:00Z\tinfo\tads\tPush debounce stable"
    )
    message = str(info.value)
    assert "2 lines read" in message and "processing secret event for secret" in message
    assert "Add cluster" in message and "Number of remote clusters" in message
    assert parse_istiod_log(text) == []  # what the diagnostics call never refuses


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_an_empty_log_is_an_empty_frame(text):
    assert read_istiod_log(text).empty


def test_every_real_file_reads_through_the_public_reader():
    for path in sorted(DATA.glob("*.log")):
        assert len(read_istiod_log(path.read_text())) > 0, path.name


@pytest.mark.parametrize(
    ("tag", "message", "reading"),
    [
        ("1.11.0", f"secret controller got event from queue for secret {S}", ("secret_event", None, S, None)),
        ("1.12.0", f"Processing update: {S}", ("secret_event", None, S, None)),
        ("1.12.0", f"Error processing {S} (giving up): bad", ("secret_failed", None, S, "bad")),
        (
            "1.12.0",
            f"ignoring Adding cluster c1 from secret {S} as it would overwrite the local cluster",
            ("ignored", "c1", S, None),
        ),
        (
            "1.15.0",
            f"ignoring cluster c1 from secret {S} as it would overwrite the config cluster",
            ("ignored", "c1", S, None),
        ),
        (
            "1.12.0",
            "Failed to sync multicluster remote secrets controller cache",
            ("sync_failed", None, None, "Failed to sync multicluster remote secrets controller cache"),
        ),
        (
            "1.29.0",
            "remote cluster c2 is closed or timed out, omitting it from the clusters collection",
            (
                "omitted",
                "c2",
                None,
                "remote cluster c2 is closed or timed out, omitting it from the clusters collection",
            ),
        ),
        (
            "1.18.0",
            f"Updating cluster: initialize cluster failed: bad\tcluster=c2 secret={S}",
            ("update_failed", "c2", S, "bad"),
        ),
        (
            "1.6.0",  # pilot/pkg/serviceregistry/kube/controller/multicluster.go l.171
            "cluster c2 does not exist, maybe caused by invalid kubeconfig",
            ("delete_failed", "c2", None, "does not exist, maybe caused by invalid kubeconfig"),
        ),
    ],
)
def test_single_lines_of_other_releases(tag, message, reading):
    # each message is the format string at `tag` (see the README), filled in
    (row,) = parse_istiod_log(f"{T}\terror\t{message}")
    assert (row["event"], row["remote_cluster"], row["secret"], row["error"]) == reading


# --------------------------------------------------------------------------------------------------
# properties: whatever the text, the reader returns a frame or raises ParseError, and quickly

PROPERTY = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
_REAL_LINES = [line for path in sorted(DATA.glob("*.log")) for line in path.read_text().splitlines()]
#: the lines without a grep prefix of their own (grep's output is not grepped again)
_UNGREPPED = [
    line
    for path in sorted(DATA.glob("*.log"))
    if "grep" not in path.name
    for line in path.read_text().splitlines()
]
_piece = st.one_of(
    st.sampled_from(_REAL_LINES),
    st.sampled_from(
        ["\t", " ", "  ", ":", "=", "cluster=", "secret=", "config=", "{", "}", "[", "]", "%!d("]
    ),
    st.text(max_size=40),
)
_line = st.lists(_piece, max_size=6).map("".join)


def _read(text: str):
    try:
        return read_istiod_log(text)
    except ParseError as err:
        assert err.lineno is not None and err.line is not None and err.line.strip()
        assert err.line in text.splitlines()
        return None


@PROPERTY
@given(st.text())
@example("\x00\xff\n{not json}\n")
@example('{"time":"2026-11-28T09:00:01Z","level":"info","msg":1}')
@example("9999-99-99T1:Z\terror\tNumber of remote clusters: 3")
def test_arbitrary_text_gives_a_frame_or_a_parse_error(text):
    df = _read(text)
    if df is not None:
        frame("istiod_events", df.to_dict("records"))
        assert len(df) <= len(text.splitlines())


@PROPERTY
@given(st.lists(_line, max_size=20).map("\n".join))
def test_pieces_of_real_lines_give_a_frame_or_a_parse_error(text):
    df = _read(text)
    if df is not None:
        assert set(df["line"]) <= set(text.splitlines())
        assert current_failures(parse_istiod_log(text)) is not None


@PROPERTY
@given(
    st.lists(st.sampled_from(_UNGREPPED), min_size=1, max_size=20),
    st.sampled_from(["", "7:", "a.log:7:", "7-"]),
)
def test_real_lines_with_grep_prefixes_are_all_read(lines, prefix):
    lines = [line for line in lines if line.strip()]
    plain = parse_istiod_log("\n".join(lines))
    prefixed = parse_istiod_log("\n".join(prefix + line for line in lines))
    assert [r["event"] for r in prefixed] == [r["event"] for r in plain]
    assert [r["remote_cluster"] for r in prefixed] == [r["remote_cluster"] for r in plain]


@pytest.mark.parametrize(
    "line",
    [
        f"{T}\tinfo\t" + "Adding cluster_id=" * 20000,
        f"{T}\tinfo\t" + "remote cluster " * 20000,
        f"{T}\tinfo\tAdd cluster" + " " * 100000 + "cluster=",
        f"{T}\tinfo\t" + "  " * 100000 + "x",
        "1:" * 50000 + T,
        "[" * 100000,
        f"{T}\tinfo\tData '" + "'" * 100000,
        f"{T}\tinfo\tcluster %!d(" + "a=" * 50000,
    ],
)
def test_long_hostile_lines_are_read_in_linear_time(line):
    start = time.perf_counter()
    parse_istiod_log(line)
    assert time.perf_counter() - start < 1.0


def test_a_real_istiods_whole_log():
    """istiod 1.31-dev (tests/testbed/build) run on the test bed: the whole log, 633 lines (README)."""
    text = (DATA / "real-istiod-1.31-dev-testbed.log").read_text()
    df = read_istiod_log(text, cluster="cluster1")
    secret = "istio-system/istio-remote-secret-cluster2"
    # secretcontroller.go at 1.31: "processing remote config event for %s", then the labelled
    # "Add cluster" (cluster=, config=), then "Number of remote clusters: %d"; controller.go's
    # "kube controller for %s synced after %v" for the config cluster (lines 437) and cluster2 (458)
    assert df["event"].tolist() == ["secret_event", "added", "remote_clusters=1", "synced", "synced"]
    assert df["secret"].tolist()[:2] == [secret, secret]
    assert df.loc[1, "remote_cluster"] == "cluster2"
    assert df["remote_cluster"].tolist()[3:] == ["cluster1", "cluster2"]
    assert current_failures(df.to_dict("records")) == []
