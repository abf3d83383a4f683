"""Simulated Docker hosts: extra Docker Engines on this machine, each a host of a fleet.

Each daemon has its own socket, data root, exec root, pid file, containerd namespace
and its own bridge interface. The bridge matters: a second daemon started with
`--bridge=none` deletes the first daemon's `docker0`, and every later `docker run`
there fails until that daemon restarts (seen on the test bed). The busybox test
image is copied in with `docker save | docker load` (no registry here).

    with simulated_hosts(["docker-a", "docker-b"], workdir) as hosts:
        hosts["docker-a"].client.containers.run(..., network_mode="none")
        hosts["docker-b"].stop()   # the host's daemon goes away; .start() brings it back

Everything is undone on exit, also when start-up fails half-way: daemons stopped by
their pid file, left-over mounts under their roots unmounted, bridges deleted, dirs
removed. Only what this module made is touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker

from testbed.containers import TEST_IMAGE
from testbed.processes import wait_until

# Containers get 1 s to stop when their daemon shuts down (default 15 s): a simulated
# host going down should not hold a test up.
SHUTDOWN_TIMEOUT_SECONDS = 1


@dataclass
class SimulatedHost:
    """One extra dockerd. `root` is short on purpose: unix socket paths under it
    (containerd's own among them) must stay under 108 bytes."""

    name: str
    root: Path
    bridge: str
    namespace: str
    _client: docker.DockerClient | None = field(default=None, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid_file(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.docker_host, version="auto")
        return self._client

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon (again) and wait until it answers."""
        (self.root / "daemon.json").write_text("{}\n")
        log = (self.root / "dockerd.log").open("ab")
        self._proc = subprocess.Popen(
            [
                "dockerd",
                # Not /etc/docker/daemon.json: that one is the real daemon's.
                "--config-file",
                str(self.root / "daemon.json"),
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.pid_file),
                "-H",
                self.docker_host,
                "--containerd-namespace",
                self.namespace,
                "--containerd-plugins-namespace",
                f"{self.namespace}-plugins",
                "--bridge",
                self.bridge,
                # The machine's firewall and forwarding belong to the real daemon.
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                f"--shutdown-timeout={SHUTDOWN_TIMEOUT_SECONDS}",
                "--log-level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        wait_until(self._answers, timeout=timeout, interval=0.1, what=f"dockerd of {self.name}")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the daemon by its pid file (its containers stop with it)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            self._kill_namespace_leftovers()
        if self._proc is not None and self._proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    def running(self) -> bool:
        return self.pid() is not None

    def log(self) -> str:
        path = self.root / "dockerd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(self.client.ping())
        except docker.errors.DockerException:
            return False

    def _kill_namespace_leftovers(self) -> None:
        # A SIGKILLed dockerd leaves its containerd and shims behind; they are found by
        # this host's own exec root or containerd namespace, which nothing else uses.
        marks = (str(self.root / "exec"), f"-namespace {self.namespace} ")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(mark in cmdline + " " for mark in marks):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child) counts as gone.
    with contextlib.suppress(OSError):
        if (Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]) == "Z":
            return False
    return True


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no interface on this machine is in."""
    used = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    taken = {
        ipaddress.ip_interface(word).network
        for line in used.splitlines()
        for word in line.split()
        if "/" in word and word[0].isdigit()
    }
    candidates = list(range(1, 255))
    random.shuffle(candidates)
    for third in candidates:
        net = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if not any(net.overlaps(other) for other in taken):
            return net
    raise RuntimeError("no free /24 in 10.213.0.0/16 for a simulated host's bridge")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _make_bridge(name: str) -> None:
    net = _free_subnet()
    _ip("link", "add", "name", name, "type", "bridge")
    _ip("addr", "add", f"{next(net.hosts())}/{net.prefixlen}", "dev", name)
    _ip("link", "set", name, "up")


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever a killed daemon left mounted below `root`, deepest first."""
    prefix = str(root) + "/"
    with contextlib.suppress(OSError):
        points = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)
        ]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False, timeout=30)


def load_test_image(host: SimulatedHost, image: str = TEST_IMAGE) -> None:
    """Copy `image` from the machine's own daemon into the host's: save | load."""
    saver = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    assert saver.stdout is not None
    loaded = subprocess.run(
        ["docker", "load", "-q"],
        stdin=saver.stdout,
        capture_output=True,
        env={**os.environ, "DOCKER_HOST": host.docker_host},
        timeout=120,
        check=False,
    )
    saver.stdout.close()
    if saver.wait(timeout=120) != 0 or loaded.returncode != 0:
        raise RuntimeError(f"loading {image} into {host.name}: {loaded.stderr.decode()}")


@contextlib.contextmanager
def simulated_hosts(
    names: Sequence[str], *, image: str = TEST_IMAGE
) -> Iterator[dict[str, SimulatedHost]]:
    """Start one dockerd per name (in parallel), each with `image` loaded; undo it all on exit."""
    run = uuid.uuid4().hex[:6]
    # /tmp and a short prefix: the socket paths inside must fit in 108 bytes.
    base = Path(tempfile.mkdtemp(prefix=f"itf{run}-", dir="/tmp"))
    hosts = {
        name: SimulatedHost(
            name=name,
            root=base / str(n),
            bridge=f"itf{run}{n}",  # interface names: 15 characters at most
            namespace=f"itops-{run}-{n}",
        )
        for n, name in enumerate(names)
    }
    bridges: list[str] = []
    try:
        for host in hosts.values():
            host.root.mkdir()
            _make_bridge(host.bridge)
            bridges.append(host.bridge)

        def up(host: SimulatedHost) -> None:
            host.start()
            load_test_image(host, image)

        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            for done in [pool.submit(up, h) for h in hosts.values()]:
                done.result()
        yield hosts
    finally:
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            list(pool.map(lambda h: h.stop(), hosts.values()))
        for host in hosts.values():
            _unmount_under(host.root)
        for bridge in bridges:
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["SimulatedHost", "load_test_image", "simulated_hosts"]
