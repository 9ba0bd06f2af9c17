"""The test bed's network: Linux network namespaces it makes itself, and nothing else.

One *hub* namespace routes between everything: a bridge per cluster (its pod network), a link to each
cluster's *API* namespace (etcd, kube-apiserver, kube-controller-manager and kwok run there) and a link
to this machine's own namespace, so that tests can dial the API servers and pods. Every pod is a
namespace of its own on its cluster's bridge, at the IP kwok gave it. An east-west gateway's external
address is a second address in its pod's namespace, routed by the hub.

    net = Network("tb3f2a", Network.free_slot())
    net.create(clusters=2)               # hub, API namespaces, bridges, the host's routes
    net.add_pod(1, "curl-x", "10.1.0.5")  # namespace "tb3f2a-p-<hash>" at 10.1.0.5 on cluster1's bridge
    net.destroy()                        # every namespace made, and with them every link and route

Addresses, for the test bed in *slot* ``S`` (0-9; several test beds can run side by side) and cluster
``N`` (1-9), all inside namespaces made here (the host's own end of its link is only a source):
``10.250.S0.1`` host end / ``10.250.S0.2`` hub end; ``10.250.SN.2`` cluster N's API namespace (its API
server listens there); ``10.SN.0.0/24`` cluster N's pods (``10.SN.0.1`` the hub's bridge address);
``172.18.SN.0/24`` cluster N's load-balancer addresses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("testbed")

SLOTS = range(10)


def subnet(slot: int, index: int) -> int:
    """The third (or second) octet of cluster ``index``'s ranges in ``slot``: ``10*slot + index``."""
    return 10 * slot + index


def api_address(slot: int, index: int) -> str:
    return f"10.250.{subnet(slot, index)}.2"


def pod_network(slot: int, index: int) -> str:
    return f"10.{subnet(slot, index)}.0.0/24"


def gateway_address(slot: int, index: int) -> str:
    """The east-west gateway Service's load-balancer address in cluster ``index``."""
    return f"172.18.{subnet(slot, index)}.100"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _batch(commands: list[str]) -> None:
    """Run ``ip`` commands, ``-n NS …`` ones inside NS, in order; each run of commands for the same
    namespace is one ``ip -batch`` process (dozens of links in a few milliseconds)."""
    runs: list[tuple[str | None, list[str]]] = []
    for command in commands:
        ns, _, rest = command[3:].partition(" ") if command.startswith("-n ") else (None, "", command)
        if runs and runs[-1][0] == ns:
            runs[-1][1].append(rest)
        else:
            runs.append((ns, [rest]))
    for ns, lines in runs:
        argv = ["ip", *(["-n", ns] if ns else []), "-batch", "-"]
        done = subprocess.run(
            argv, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def pod_key(cluster: str, namespace: str, name: str, uid: str) -> str:
    """What names a pod's sandbox: a pod made again under the same name gets a new one."""
    return f"{cluster}/{namespace}/{name}/{uid[:8]}"


def _kill_inside(namespace: str) -> None:
    """SIGKILL every process still in network namespace ``namespace`` (before it is deleted)."""
    pids = _run("ip", "netns", "pids", namespace, check=False).stdout.split()
    if pids:
        _run("kill", "-9", *pids, check=False)


def namespaces() -> list[str]:
    """Every network namespace on this machine (``ip netns list``)."""
    out = _run("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@contextlib.contextmanager
def slot_lock() -> Iterator[None]:
    """Held while a test bed picks its slot and makes its network."""
    with open("/run/meshnb-testbed-slots.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def slots_in_use() -> set[int]:
    """The slots of the test bed networks up on this machine (read from their hubs' addresses)."""
    used = set()
    for name in namespaces():
        if name.endswith("-hub"):
            out = _run("ip", "-n", name, "-4", "-o", "addr", "show", "dev", "up0", check=False).stdout
            for word in out.split():
                if word.startswith("10.250.") and word.endswith("/30"):
                    used.add(int(word.split(".")[2]) // 10)
    return used


def reap_abandoned() -> list[str]:
    """Remove the networks of test beds killed before they could clean up (a SIGKILLed test run whose
    kubelet died with it): those none of whose namespaces holds a process. A live test bed always has
    etcd in its API namespaces, and one being made holds ``slot_lock``, as the caller must. Returns
    the prefixes removed."""
    by_prefix: dict[str, list[str]] = {}
    for name in namespaces():
        prefix, dash, rest = name.partition("-")
        if dash and prefix.startswith("tb") and rest:
            by_prefix.setdefault(prefix, []).append(name)
    reaped = []
    for prefix, names in by_prefix.items():
        if f"{prefix}-hub" in names and not any(
            _run("ip", "netns", "pids", n, check=False).stdout.strip() for n in names
        ):
            log.warning(
                "removing the network of a test bed that is gone: %s (%d namespaces)", prefix, len(names)
            )
            Network(prefix, 0).destroy()
            reaped.append(prefix)
    return reaped


class Network:
    """The namespaces of one test bed, named ``PREFIX-…`` (``PREFIX`` at most 6 characters), in ``slot``."""

    def __init__(self, prefix: str, slot: int):
        if not (prefix.isalnum() and len(prefix) <= 6) or slot not in SLOTS:
            raise ValueError(f"network {prefix!r} in slot {slot}: at most 6 letters or digits, slot 0-9")
        self.prefix, self.slot = prefix, slot

    @staticmethod
    def free_slot() -> int:
        """The first slot no test bed uses, once the networks of dead test beds are removed (call it
        holding ``slot_lock``)."""
        reap_abandoned()
        used = slots_in_use()
        free = [s for s in SLOTS if s not in used]
        if not free:
            raise RuntimeError("every test bed network slot is in use: run tests/testbed/down on one")
        return free[0]

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def api(self, index: int) -> str:
        return f"{self.prefix}-api{index}"

    def pod(self, key: str) -> str:
        """The namespace of the pod ``key`` (``cluster/namespace/name``): short, stable, a valid name."""
        return f"{self.prefix}-p-{hashlib.sha256(key.encode()).hexdigest()[:10]}"

    def exec(self, namespace: str, argv: list[str]) -> list[str]:
        """``argv`` run inside network namespace ``namespace``."""
        return ["ip", "netns", "exec", namespace, *argv]

    # ---- the whole network ----
    def create(self, clusters: int) -> None:
        """Make the hub, each cluster's API namespace and bridge, and the host's link and routes."""
        if self.slot in slots_in_use() and self.hub not in namespaces():
            raise RuntimeError(f"network slot {self.slot} is taken by another test bed")
        self.destroy()
        p, hub, base = self.prefix, self.hub, subnet(self.slot, 0)
        host_end, hub_end = f"10.250.{base}.1", f"10.250.{base}.2"
        commands = [
            f"netns add {hub}",
            f"link add {p}h0 type veth peer name up0 netns {hub}",
            f"addr add {host_end}/30 dev {p}h0",
            f"link set {p}h0 up",
            f"-n {hub} addr add {hub_end}/30 dev up0",
            f"-n {hub} link set up0 up",
            f"-n {hub} link set lo up",
        ]
        for index in range(1, clusters + 1):
            api, net = self.api(index), subnet(self.slot, index)
            commands += [
                f"netns add {api}",
                f"-n {hub} link add api{index} type veth peer name eth0 netns {api}",
                f"-n {hub} addr add 10.250.{net}.1/30 dev api{index}",
                f"-n {hub} link set api{index} up",
                f"-n {api} addr add {api_address(self.slot, index)}/30 dev eth0",
                f"-n {api} link set eth0 up",
                f"-n {api} link set lo up",
                f"-n {api} route add default via 10.250.{net}.1",
                f"-n {hub} link add br{index} type bridge",
                f"-n {hub} addr add 10.{net}.0.1/24 dev br{index}",
                f"-n {hub} link set br{index} up",
                # what the host routes into the hub: this bed's API servers, pods and load balancers
                f"route add 10.250.{net}.0/30 via {hub_end}",
                f"route add {pod_network(self.slot, index)} via {hub_end}",
                f"route add 172.18.{net}.0/24 via {hub_end}",
            ]
        _batch(commands)
        # the hub routes between its links; it has no default route, so nothing leaves the test bed
        _run("ip", "netns", "exec", hub, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        log.info("network %s (slot %d): hub and %d clusters", p, self.slot, clusters)

    def destroy(self) -> list[str]:
        """Delete every namespace of this prefix (their links and the host's routes go with them)."""
        gone = [n for n in namespaces() if n.startswith(f"{self.prefix}-")]
        for name in gone:
            _kill_inside(name)
        if gone:
            _batch([f"netns delete {name}" for name in gone])
        _run("ip", "link", "delete", f"{self.prefix}h0", check=False)
        for directory in Path("/etc/netns").glob(f"{self.prefix}-*"):
            shutil.rmtree(directory, ignore_errors=True)
        return gone

    # ---- pods ----
    def add_pod(self, index: int, key: str, ip: str, extra: tuple[str, ...] = ()) -> str:
        """Make pod ``key``'s namespace at ``ip`` on cluster ``index``'s bridge (``extra``: more /32
        addresses in it, routed to it by the hub: a load balancer's). Returns the namespace's name."""
        name = self.pod(key)
        if name in namespaces():
            return name
        veth = self._veth(key)
        commands = [
            f"netns add {name}",
            f"-n {self.hub} link add {veth} type veth peer name eth0 netns {name}",
            f"-n {self.hub} link set {veth} master br{index}",
            f"-n {self.hub} link set {veth} up",
            f"-n {name} addr add {ip}/24 dev eth0",
            f"-n {name} link set eth0 up",
            f"-n {name} link set lo up",
            f"-n {name} route add default via 10.{subnet(self.slot, index)}.0.1",
        ]
        for address in extra:  # replace: the pod before this one may have held the address
            commands += [
                f"-n {name} addr add {address}/32 dev eth0",
                f"-n {self.hub} route replace {address} via {ip}",
            ]
        try:
            _batch(commands)
        except RuntimeError:
            self.remove_pod(key)  # all or nothing: the next try starts from scratch
            raise
        return name

    def _veth(self, key: str) -> str:
        return f"{self.prefix}{hashlib.sha256(key.encode()).hexdigest()[:8]}"[:15]

    def remove_pod(self, key: str) -> None:
        name = self.pod(key)
        if name in namespaces():
            _kill_inside(name)
            _run("ip", "netns", "delete", name)  # its veth goes with it
        _run("ip", "-n", self.hub, "link", "delete", self._veth(key), check=False)
        shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)

    def etc_file(self, key: str, name: str, text: str) -> Path:
        """``/etc/NAME`` (``resolv.conf``, ``hosts``) as processes in pod ``key``'s namespace see it
        (``ip netns exec`` binds ``/etc/netns/NS/NAME`` over it)."""
        path = Path("/etc/netns") / self.pod(key) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # ---- faults ----
    def firewall(self, drop: list[tuple[str, str]]) -> None:
        """Drop every packet the hub would forward between each pair of address ranges (both ways);
        ``[]`` drops none."""
        hub = ["ip", "netns", "exec", self.hub, "iptables"]
        _run(*hub, "-N", "MESHNB-FIREWALL", check=False)
        _run(*hub, "-F", "MESHNB-FIREWALL")
        if "-j MESHNB-FIREWALL" not in _run(*hub, "-S", "FORWARD").stdout:
            _run(*hub, "-I", "FORWARD", "-j", "MESHNB-FIREWALL")
        for a, b in drop:
            for src, dst in ((a, b), (b, a)):
                _run(*hub, "-A", "MESHNB-FIREWALL", "-s", src, "-d", dst, "-j", "DROP")
