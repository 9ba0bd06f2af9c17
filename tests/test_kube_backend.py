"""The kube backend through the real kubernetes client, over HTTP, against tests/fakeapi.py servers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fakeapi import RBAC_USER, FakeApiServer, write_kubeconfig

from meshnb.backends import kube
from meshnb.backends.base import DEFAULT_TIMEOUT, Cluster, ExecResult, Node, Pod, Secret, SecretData
from meshnb.backends.kube import KubeCluster, KubeMesh, connect
from meshnb.errors import (
    ClusterTimeout,
    ConfigError,
    ExecError,
    Forbidden,
    InvalidName,
    NotFound,
    Unauthorized,
    Unreachable,
)

TOKEN = "sekrit-token-7f3a9c2e51"
WRONG_TOKEN = "wrong-token-0d8b44e7aa"


class StubCluster:
    """A tiny in-memory Cluster: a few pods, secrets, nodes and canned commands."""

    def __init__(self, name: str, zone: str):
        self.name = name

        def pod(pod_name: str, **labels: str) -> Pod:
            return Pod(pod_name, "sample", labels, {}, f"{name}-node", "10.0.0.9", "Running", True, ("app",))

        self.pods = [
            pod("helloworld-v1-a", app="helloworld", version="v1"),
            pod("helloworld-v2-b", app="helloworld", version="v2"),
            pod("curl-c", app="curl"),
            Pod(
                "sidecar-d",
                "sample",
                {},
                {},
                f"{name}-node",
                "10.0.0.8",
                "Running",
                True,
                ("curl", "istio-proxy"),
            ),
            Pod(
                "annotated-e",
                "sample",
                {},
                {"kubectl.kubernetes.io/default-container": "istio-proxy"},
                f"{name}-node",
                "10.0.0.7",
                "Running",
                True,
                ("curl", "istio-proxy"),
            ),
        ]
        self.secrets = [
            Secret("cacerts", "istio-system",
                   data=SecretData({"root-cert.pem": b"ROOT\n", "bin": bytes(range(256))})),
            Secret("istio-remote-secret-x", "istio-system", labels={"istio/multiCluster": "true"},
                   data=SecretData({"x": b"kubeconfig: ..."})),
        ]  # fmt: skip
        self.nodes = [Node(f"{name}-node", {"topology.kubernetes.io/zone": zone})]
        self.log_lines = [f"line {i}" for i in range(10)]

    def _pod(self, namespace: str, pod: str) -> Pod:
        for p in self.pods:
            if (p.namespace, p.name) == (namespace, pod):
                return p
        raise NotFound(self.name, f'pods "{pod}" not found')

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        wanted = dict(r.split("=", 1) for r in label_selector.split(",")) if label_selector else {}
        return [p for p in self.pods if p.namespace == namespace and wanted.items() <= dict(p.labels).items()]

    def exec(self, namespace, pod, argv, container=None, timeout=DEFAULT_TIMEOUT) -> ExecResult:
        self._pod(namespace, pod)
        out, err, code = "", "", 0
        if argv[0] == "echo":
            out = " ".join(argv[1:]) + "\n"
        elif argv[0] == "argv":
            out = json.dumps(argv)
        elif argv[0] == "fail":
            err, code = "boom\n", int(argv[1])
        elif argv[0] == "container":
            out = f"{container}\n"
        elif argv[0] == "big":
            out = "é" * 100_000 + "end\n"
        else:
            raise ExecError(self.name, f'exec: "{argv[0]}": executable file not found in $PATH')
        return ExecResult(tuple(argv), out, err, code, self.name, pod)

    def read_secret(self, namespace: str, name: str) -> SecretData:
        for s in self.secrets:
            if (s.namespace, s.name) == (namespace, name):
                return s.data
        raise NotFound(self.name, f'secrets "{name}" not found')

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        key, _, value = (label_selector or "").partition("=")
        return [
            s for s in self.secrets if s.namespace == namespace and (not key or s.labels.get(key) == value)
        ]

    def logs(self, namespace, pod, container=None, tail_lines=None) -> str:
        self._pod(namespace, pod)
        lines = self.log_lines[-tail_lines:] if tail_lines else self.log_lines
        return "".join(f"{line}\n" for line in lines)

    def list_nodes(self) -> list[Node]:
        return self.nodes


@pytest.fixture
def servers() -> Iterator[dict[str, FakeApiServer]]:
    east = FakeApiServer(StubCluster("east", "us-east-1a"), token=TOKEN, git_version="v1.30.1-east")
    west = FakeApiServer(StubCluster("west", "us-west-2b"), token=TOKEN, git_version="v1.29.7-west")
    with east, west:
        yield {"east": east, "west": west}


@pytest.fixture
def kubeconfig(servers: dict[str, FakeApiServer], tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", servers, unreachable="dead")


@pytest.fixture
def mesh(kubeconfig: Path) -> Iterator[KubeMesh]:
    with connect(["east", "west"], kubeconfig, timeout=5) as mesh:
        yield mesh


@pytest.fixture
def east(mesh: KubeMesh) -> KubeCluster:
    return mesh.clusters["east"]


# ----------------------------------------------------------------------------------------------- reads
def test_two_contexts_are_two_independent_clusters(mesh: KubeMesh) -> None:
    assert sorted(mesh.clusters) == ["east", "west"]
    assert mesh.clusters["east"].version() == "v1.30.1-east"
    assert mesh.clusters["west"].version() == "v1.29.7-west"
    assert all(isinstance(c, Cluster) for c in mesh.clusters.values())
    assert mesh.clusters["east"].api_client is not mesh.clusters["west"].api_client
    assert mesh.clusters["east"].api_client.configuration.retries is False


def test_mapping_names_clusters(kubeconfig: Path) -> None:
    with connect({"cluster1": "west"}, kubeconfig) as mesh:
        assert list(mesh.clusters) == ["cluster1"]
        assert mesh.clusters["cluster1"].list_nodes()[0].zone == "us-west-2b"


def test_list_pods_with_selectors(east: KubeCluster) -> None:
    assert [p.name for p in east.list_pods("sample")][:3] == ["helloworld-v1-a", "helloworld-v2-b", "curl-c"]
    assert len(east.list_pods("sample", "app=helloworld")) == 2
    (pod,) = east.list_pods("sample", "app=helloworld,version=v2")
    assert pod == Pod(
        "helloworld-v2-b", "sample", {"app": "helloworld", "version": "v2"}, {}, "east-node", "10.0.0.9",
        "Running", True, ("app",),
    )  # fmt: skip
    assert east.list_pods("other") == []


def test_exec_stdout_stderr_and_exit_codes(east: KubeCluster) -> None:
    ok = east.exec("sample", "curl-c", ["echo", "hi"])
    assert (ok.stdout, ok.stderr, ok.returncode, ok.cluster, ok.pod) == ("hi\n", "", 0, "east", "curl-c")
    assert ok.check_returncode() is ok
    bad = east.exec("sample", "curl-c", ["fail", "7"], container="app")
    assert (bad.stdout, bad.stderr, bad.returncode) == ("", "boom\n", 7)
    with pytest.raises(ExecError, match="exited 7"):
        bad.check_returncode()


def test_exec_without_a_container_picks_the_one_kubectl_would(east: KubeCluster) -> None:
    """The API server refuses an exec without a container in a pod of several; kubectl picks the
    default-container annotation, else the first container. So does meshnb."""
    assert east.exec("sample", "sidecar-d", ["container"]).stdout == "curl\n"
    assert east.exec("sample", "annotated-e", ["container"]).stdout == "istio-proxy\n"
    assert east.exec("sample", "annotated-e", ["container"], container="curl").stdout == "curl\n"
    with pytest.raises(NotFound):
        east.exec("sample", "no-such-pod", ["container"])


def test_exec_passes_argv_intact(east: KubeCluster) -> None:
    argv = ["argv", "a b", 'it\'s "quoted"', "$(rm -rf /)", "; | & > *", "--header=Host: x", "ünï"]
    assert json.loads(east.exec("sample", "curl-c", argv).stdout) == argv


def test_exec_big_output_in_many_frames(east: KubeCluster) -> None:
    assert east.exec("sample", "curl-c", ["big"]).stdout == "é" * 100_000 + "end\n"


def test_exec_that_cannot_start_is_exec_error(east: KubeCluster) -> None:
    with pytest.raises(ExecError, match="executable file not found"):
        east.exec("sample", "curl-c", ["nosuchbinary"])


@pytest.mark.parametrize("argv", ["echo hi", b"echo", [], ["echo", 3], ("echo", "a\x00b")])
def test_exec_rejects_anything_but_a_list_of_strings(east: KubeCluster, argv: object) -> None:
    with pytest.raises(InvalidName):
        east.exec("sample", "curl-c", argv)  # type: ignore[arg-type]


def test_concurrent_calls_on_one_cluster(east: KubeCluster) -> None:
    # kubernetes.stream.stream() swaps call_api on the ApiClient it is given while it runs: exec must not
    # use the cluster's shared client, or concurrent list calls go over websockets (and it stays patched)
    with ThreadPoolExecutor(8) as pool:
        execs = [pool.submit(east.exec, "sample", "curl-c", ["echo", str(i)]) for i in range(24)]
        lists = [pool.submit(east.list_pods, "sample", "app=curl") for _ in range(24)]
    assert [f.result().stdout for f in execs] == [f"{i}\n" for i in range(24)]
    assert all(f.result()[0].name == "curl-c" for f in lists)


def test_read_and_list_secrets_decode_data(east: KubeCluster) -> None:
    data = east.read_secret("istio-system", "cacerts")
    assert isinstance(data, SecretData)
    assert data["root-cert.pem"] == b"ROOT\n" and data["bin"] == bytes(range(256))
    assert "ROOT" not in repr(data)
    (remote,) = east.list_secrets("istio-system", "istio/multiCluster=true")
    assert (remote.name, remote.labels, remote.data.text("x")) == (
        "istio-remote-secret-x", {"istio/multiCluster": "true"}, "kubeconfig: ...",
    )  # fmt: skip
    assert len(east.list_secrets("istio-system")) == 2


def test_logs_and_nodes(east: KubeCluster) -> None:
    assert east.logs("sample", "curl-c", tail_lines=2) == "line 8\nline 9\n"
    assert east.logs("sample", "curl-c", container="app").count("\n") == 10
    assert east.list_nodes() == [Node("east-node", {"topology.kubernetes.io/zone": "us-east-1a"})]


def test_logs_that_look_like_json_stay_text(east: KubeCluster, servers: dict[str, FakeApiServer]) -> None:
    servers["east"].cluster.log_lines = ['{"level": "info", "msg": "pushed"}']
    assert east.logs("sample", "curl-c") == '{"level": "info", "msg": "pushed"}\n'


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.list_pods("Bad_NS"),
        lambda c: c.list_pods("sample", "app=(x"),
        lambda c: c.read_secret("istio-system", "../etc"),
        lambda c: c.exec("sample", "curl c", ["echo"]),
        lambda c: c.logs("sample", "curl-c", tail_lines="5"),
    ],
)
def test_invalid_names_are_rejected_before_any_call(east: KubeCluster, call) -> None:
    with pytest.raises(InvalidName):
        call(east)


# ----------------------------------------------------------------------------------------------- config
def test_unknown_context_lists_the_available_ones(kubeconfig: Path) -> None:
    with pytest.raises(ConfigError, match="'north'") as info:
        connect(["east", "north"], kubeconfig)
    assert "available contexts: east, west, dead" in str(info.value)
    assert TOKEN not in str(info.value)


def test_missing_or_broken_kubeconfig_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        connect(["east"], tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.write_text(f"users: [token: {TOKEN}\n  - : :\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        connect(["east"], broken)
    assert TOKEN not in str(info.value)


def test_connect_never_changes_the_process_wide_client_defaults(kubeconfig: Path) -> None:
    from kubernetes.client import Configuration

    before = Configuration._default
    connect(["east", "west"], kubeconfig).close()
    assert Configuration._default is before
    assert "load_kube_config(" not in Path(kube.__file__).read_text()


def test_import_is_cheap() -> None:
    code = "import sys, meshnb.backends.kube; assert 'kubernetes' not in sys.modules, 'kubernetes imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# ----------------------------------------------------------------------------------------------- errors
def test_unreachable_server_fails_fast(kubeconfig: Path) -> None:
    with connect(["dead"], kubeconfig, timeout=30) as mesh:
        dead = mesh.clusters["dead"]
        start = time.monotonic()
        with pytest.raises(Unreachable, match=r"^dead: unreachable"):
            dead.list_pods("sample")
        with pytest.raises(Unreachable):
            dead.exec("sample", "curl-c", ["echo"], timeout=30)
        assert time.monotonic() - start < 5  # not a minute of retries


def test_wrong_token_is_unauthorized(servers: dict[str, FakeApiServer], tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", servers, token=WRONG_TOKEN)
    with connect(["east"], path) as mesh:
        with pytest.raises(Unauthorized, match=r"^east: unauthorized"):
            mesh.clusters["east"].list_nodes()
        with pytest.raises(Unauthorized):
            mesh.clusters["east"].exec("sample", "curl-c", ["echo"])


def test_rbac_denial_keeps_the_api_message(east: KubeCluster, servers: dict[str, FakeApiServer]) -> None:
    servers["east"].deny("secrets", "pods/exec")
    with pytest.raises(Forbidden) as info:
        east.read_secret("istio-system", "cacerts")
    assert info.value.status == 403
    assert str(info.value) == (
        f'east: forbidden: secrets "cacerts" is forbidden: User "{RBAC_USER}" cannot get resource "secrets" '
        'in API group "" in the namespace "istio-system"'
    )
    with pytest.raises(Forbidden, match='cannot list resource "secrets"'):
        east.list_secrets("istio-system")
    with pytest.raises(Forbidden, match='cannot create resource "pods/exec"'):
        east.exec("sample", "curl-c", ["echo"])
    assert east.list_pods("sample")  # other resources still work


def test_not_found_names_the_missing_object(east: KubeCluster) -> None:
    with pytest.raises(NotFound, match=r"secret istio-system/nope: secrets \"nope\" not found"):
        east.read_secret("istio-system", "nope")
    with pytest.raises(NotFound, match=r"pod sample/ghost: pods \"ghost\" not found"):
        east.exec("sample", "ghost", ["echo"])
    with pytest.raises(NotFound, match="pod sample/ghost"):
        east.logs("sample", "ghost")


@pytest.mark.parametrize("where", ["request", "exec"])
def test_hung_server_times_out(kubeconfig: Path, servers: dict[str, FakeApiServer], where: str) -> None:
    servers["east"].hang = where
    with connect(["east"], kubeconfig, timeout=1) as mesh:
        east = mesh.clusters["east"]
        start = time.monotonic()
        with pytest.raises(ClusterTimeout, match=r"^east: timeout"):
            east.exec("sample", "curl-c", ["echo", "hi"], timeout=1)
        if where == "request":
            with pytest.raises(ClusterTimeout):
                east.list_pods("sample")
        assert time.monotonic() - start < 4


def test_credentials_never_reach_messages_or_logs(
    servers: dict[str, FakeApiServer], kubeconfig: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = write_kubeconfig(tmp_path / "wrong", servers, token=WRONG_TOKEN)
    servers["west"].deny("secrets")
    errors: list[BaseException] = []
    with connect(["east", "west", "dead"], kubeconfig, timeout=2) as mesh, connect(["east"], wrong) as bad:
        mesh.clusters["east"].read_secret("istio-system", "cacerts")
        mesh.clusters["east"].exec("sample", "curl-c", ["echo", "hi"])
        for call in (
            lambda: bad.clusters["east"].exec("sample", "curl-c", ["echo"]),
            lambda: bad.clusters["east"].list_pods("sample"),
            lambda: mesh.clusters["west"].read_secret("istio-system", "cacerts"),
            lambda: mesh.clusters["east"].read_secret("istio-system", "nope"),
            mesh.clusters["dead"].list_nodes,
        ):
            with pytest.raises(Exception) as info:  # each call fails its own way
                call()
            errors.append(info.value)
    texts = [r.getMessage() for r in caplog.records] + [repr(mesh), repr(mesh.clusters["east"])]
    for err in errors:  # the meshnb error and everything chained under it
        link: BaseException | None = err
        while link is not None:
            texts += [str(link), repr(link)]
            link = link.__cause__ or link.__context__
    assert len(errors) == 5 and caplog.records
    for text in texts:
        assert TOKEN not in text and WRONG_TOKEN not in text


def test_scrub_blanks_the_configured_token(east: KubeCluster) -> None:
    assert TOKEN not in east._scrub(f"oops Authorization: Bearer {TOKEN} and raw {TOKEN}")


# ----------------------------------------------------------------------------------------------- sim
def test_serves_the_simulated_mesh(tmp_path: Path) -> None:
    meshnb = pytest.importorskip("meshnb")
    try:
        sim = meshnb.simulate().clusters["cluster1"]
    except (AttributeError, ImportError, NotImplementedError) as exc:
        pytest.skip(f"meshnb.simulate() not available: {exc}")
    with FakeApiServer(sim) as server:
        path = write_kubeconfig(tmp_path / "kc", {"cluster1": server})
        with connect(["cluster1"], path) as mesh:
            real = mesh.clusters["cluster1"]
            assert real.list_pods("sample", "app=curl") == sim.list_pods("sample", "app=curl")
            assert real.list_nodes() == sim.list_nodes()
            curl = real.list_pods("sample", "app=curl")[0].name
            assert real.exec("sample", curl, ["echo", "hi"]).stdout == "hi\n"
            secrets = real.list_secrets("istio-system")
            assert [s.name for s in secrets] == [s.name for s in sim.list_secrets("istio-system")]
            assert dict(real.read_secret("istio-system", "cacerts")) == dict(
                sim.read_secret("istio-system", "cacerts")
            )
