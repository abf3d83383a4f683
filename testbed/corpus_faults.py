"""Real faults, injected into real containers: the diagnosis corpus the kernel and Docker write.

(Long because it is a catalogue: forty-odd fault definitions as data. The code
that injects them is `corpus_injection.py`.)

The labelled log corpus (`corpus.py`) holds what programs print; this one holds
what actually happens. Each `Fault` starts a container on the test bed's Docker
Engine that really fails — a memory limit the kernel enforces, a pids limit
that stops `fork`, a tmpfs that fills up, a read-only root, a name Docker's DNS
does not know, a port another process holds, a health check that times out, a
SIGSEGV, an operator's `docker kill` — and says how a human would classify it
(category and `restart_safe`). `corpus_injection.run_faults` waits for each
failure, collects the evidence exactly as the healer does
(`healer.evidence.gather` through the real Docker adapter) and returns it for
the classifier (and, in the LLM evaluation, a model) to judge.

Images: the busybox test image (shell, httpd, nc, wget, dd) and the
debootstrapped Debian image with python3, for the messages real programs print
(tracebacks, argparse, errno texts). Nothing here prints an imitation of an
error: every line comes from the program, the C library or the kernel that hit
the fault. Faults run in parallel; every container, and the one network they
share, is removed afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docker.types import Ulimit

from healer.model import Category
from testbed.containers import TEST_IMAGE, health

DEBIAN_IMAGE = os.environ.get("TEST_DEBIAN_IMAGE", "itops-base/debian-python:bookworm")
NETWORK_ALIAS_DB = "db"  # a peer on the fault network where nothing listens

C, R, D, X, U = (
    Category.CONFIGURATION,
    Category.RESOURCE,
    Category.DEPENDENCY,
    Category.CRASH,
    Category.UNKNOWN,
)


@dataclass(frozen=True)
class Fault:
    """One real fault: how to make a container fail that way, and the expected diagnosis.

    `options` are Docker SDK `containers.create` arguments (limits, mounts, user,
    health check). `after` is what an operator does once it runs (`stop`,
    `kill`); `until` is the state that means the fault has happened.
    """

    name: str
    about: str
    category: Category
    restart_safe: bool
    command: Sequence[str]
    image: str = TEST_IMAGE
    options: Mapping[str, Any] = field(default_factory=dict)
    network: bool = False  # on the fault network, next to the `db` peer
    share_netns: bool = False  # in the network namespace of a server holding port 8080
    after: str = ""  # "stop" | "kill"
    until: str = "exited"  # "exited" | "unhealthy"
    subset: bool = False  # part of the quick subset `make test` runs


def py(source: str, *, args: Sequence[str] = ()) -> list[str]:
    """A Python program run from a file (`/tmp/app.py`), so tracebacks show its source lines,
    as they do for a real service."""
    writer = (
        f"import pathlib,runpy,sys; pathlib.Path('/tmp/app.py').write_text({source!r}); "
        "sys.argv=['/tmp/app.py',*sys.argv[1:]]; "
        "runpy.run_path('/tmp/app.py', run_name='__main__')"
    )
    return ["python3", "-c", writer, *args]


def py_inline(source: str) -> list[str]:
    """A Python program run with -c, for faults where nothing may be written (a read-only root)."""
    return ["python3", "-c", source]


def _limits(**limits: tuple[int, int]) -> list[Ulimit]:
    return [Ulimit(name=name, soft=soft, hard=hard) for name, (soft, hard) in limits.items()]


MB = 1024 * 1024
FAULTS: tuple[Fault, ...] = (
    # ---- memory ------------------------------------------------------------------------
    Fault(
        "oom-kill-silent",
        "a shell pipeline grows past a 16 MiB memory limit; the kernel kills it, nothing logged",
        R,
        True,
        # A second in: Engine 20.10 may never flag a kill in a run's first instants (see
        # exporter/oom.py), and services are rarely OOM-killed before they have started.
        ["sh", "-c", "sleep 1; x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
        options={"mem_limit": "16m", "memswap_limit": "16m"},
        subset=True,
    ),
    Fault(
        "oom-kill-after-a-log-line",
        "a Python service logs that it loads its catalogue, then outgrows a 48 MiB limit",
        R,
        True,
        py(
            "import sys, time\nprint('orders-api: loading product catalogue', flush=True)\n"
            "time.sleep(1)\n"
            "blocks = [b'x' * (8 << 20) for _ in range(64)]\n"
        ),
        image=DEBIAN_IMAGE,
        options={"mem_limit": "48m", "memswap_limit": "48m"},
    ),
    Fault(
        "heap-limit-memoryerror",
        "the data ulimit caps the heap: Python raises MemoryError instead of being killed",
        R,
        True,
        py("cache = b'x' * (512 << 20)\n"),
        image=DEBIAN_IMAGE,
        options={"ulimits": _limits(data=(160 * MB, 160 * MB))},
    ),
    # ---- processes, files, CPU time ----------------------------------------------------
    Fault(
        "pids-limit-threads",
        "a worker starts a thread per job under --pids-limit 24",
        R,
        True,
        py(
            "import threading, time\n"
            "for job in range(1000):\n"
            "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        ),
        image=DEBIAN_IMAGE,
        options={"pids_limit": 24},
        subset=True,
    ),
    Fault(
        "pids-limit-fork",
        "a shell script forks background jobs under --pids-limit 10",
        R,
        True,
        ["sh", "-c", "for i in $(seq 50); do sleep 60 & done; wait"],
        options={"pids_limit": 10},
    ),
    Fault(
        "too-many-open-files",
        "a service opens a file per upload under --ulimit nofile=32",
        R,
        True,
        py("handles = [open('/etc/hostname') for upload in range(100)]\n"),
        image=DEBIAN_IMAGE,
        options={"ulimits": _limits(nofile=(32, 32))},
        subset=True,
    ),
    Fault(
        "cpu-time-limit",
        "a busy loop under --ulimit cpu=1:3: the kernel sends SIGXCPU (under --init, as is usual)",
        R,
        True,
        py_inline("while True:\n    pass\n"),
        image=DEBIAN_IMAGE,
        options={"ulimits": _limits(cpu=(1, 3)), "init": True},
    ),
    Fault(
        "file-size-limit",
        "an export grows past --ulimit fsize; Python gets EFBIG",
        R,
        False,
        py("open('/tmp/export.csv', 'wb').write(b'x' * 400_000)\n"),
        image=DEBIAN_IMAGE,
        options={"ulimits": _limits(fsize=(200_000, 200_000))},
    ),
    # ---- disks and file systems ----------------------------------------------------------
    Fault(
        "disk-full-dd",
        "dd fills a 1 MiB tmpfs",
        R,
        False,
        ["sh", "-c", "dd if=/dev/zero of=/data/fill bs=1k count=4096"],
        options={"tmpfs": {"/data": "size=1m"}},
        subset=True,
    ),
    Fault(
        "disk-full-python",
        "a service writes its state to a full 1 MiB tmpfs",
        R,
        False,
        py(
            "with open('/var/lib/orders/state.bin', 'wb') as out:\n"
            "    for chunk in range(64):\n        out.write(b'x' * 65536)\n"
        ),
        image=DEBIAN_IMAGE,
        options={"tmpfs": {"/var/lib/orders": "size=1m"}},
    ),
    Fault(
        "read-only-root-shell",
        "an entrypoint writes its pid file on a read-only root file system",
        C,
        False,
        ["sh", "-c", "echo $$ > /app.pid && exec httpd -f -p 80 -h /www"],
        options={"read_only": True},
        subset=True,
    ),
    Fault(
        "read-only-root-python",
        "a service saves its state on a read-only root file system",
        C,
        False,
        py_inline("open('/srv/state.json', 'w').write('{}')\n"),
        image=DEBIAN_IMAGE,
        options={"read_only": True},
    ),
    Fault(
        "permission-denied-mount",
        "the service runs as uid 1000 and its data mount is root's, mode 0700",
        C,
        False,
        ["sh", "-c", "echo order-1 > /data/orders.db && exec sleep 100000"],
        options={"tmpfs": {"/data": "mode=0700"}, "user": "1000:1000"},
        subset=True,
    ),
    Fault(
        "permission-denied-python",
        "a Python service as uid 1000 writes into a root-owned mount",
        C,
        False,
        py("open('/var/lib/orders/orders.db', 'w').write('1')\n"),
        image=DEBIAN_IMAGE,
        options={"tmpfs": {"/var/lib/orders": "mode=0755"}, "user": "1000:1000"},
    ),
    # ---- the command itself ---------------------------------------------------------------
    Fault(
        "missing-executable",
        "the command names a binary the image does not have; Docker cannot start it",
        C,
        False,
        ["/app/server", "--port", "8080"],
        subset=True,
    ),
    Fault(
        "command-is-a-directory",
        "the command is a directory; runc refuses to execute it (exit 126)",
        C,
        False,
        ["/bin"],
    ),
    Fault(
        "command-not-found-in-shell",
        "the entrypoint script execs a program that is not installed (exit 127)",
        C,
        False,
        ["sh", "-c", "exec gunicornx orders.wsgi:app"],
    ),
    Fault(
        "bad-argument-argparse",
        "a misspelt flag (--prot) reaches a Python service's argparse",
        C,
        False,
        py(
            "import argparse\np = argparse.ArgumentParser(prog='orders-api')\n"
            "p.add_argument('--port', type=int)\np.parse_args()\n",
            args=("--prot", "8080"),
        ),
        image=DEBIAN_IMAGE,
        subset=True,
    ),
    Fault(
        "bad-argument-busybox",
        "httpd started with a long option it does not know",
        C,
        False,
        ["httpd", "-f", "--port", "80"],
    ),
    Fault(
        "env-missing-python",
        "the service reads os.environ['DATABASE_URL'], which is not set",
        C,
        False,
        py("import os\nDATABASE_URL = os.environ['DATABASE_URL']\n"),
        image=DEBIAN_IMAGE,
    ),
    Fault(
        "env-missing-shell",
        "the entrypoint requires ORDERS_DB_URL with ${VAR:?}",
        C,
        False,
        ["sh", "-c", ': "${ORDERS_DB_URL:?must be set}"; exec httpd -f -p 80 -h /www'],
        subset=True,
    ),
    Fault(
        "env-invalid-python",
        "WORKERS=eight: the service converts it with int()",
        C,
        False,
        py("import os\nWORKERS = int(os.environ['WORKERS'])\n"),
        image=DEBIAN_IMAGE,
        options={"environment": {"WORKERS": "eight"}},
    ),
    Fault(
        "module-missing",
        "the image was built without a dependency the service imports",
        C,
        False,
        py("import flask\n"),
        image=DEBIAN_IMAGE,
    ),
    Fault(
        "config-file-invalid",
        "the service's TOML configuration has an unquoted string",
        C,
        False,
        py(
            "# the entrypoint renders the configuration from a template\n"
            "open('/tmp/orders.toml', 'w').write('port = 8080\\nhost = localhost\\n')\n"
            "import tomllib\nCONFIG = tomllib.loads(open('/tmp/orders.toml').read())\n"
        ),
        image=DEBIAN_IMAGE,
    ),
    Fault(
        "config-file-missing",
        "the service opens a configuration file that was never mounted",
        C,
        False,
        py("CONFIG = open('/etc/orders/config.toml').read()\n"),
        image=DEBIAN_IMAGE,
    ),
    # ---- dependencies -------------------------------------------------------------------
    Fault(
        "dns-name-unknown-python",
        "the service connects to orders-db, a name Docker's DNS does not know",
        D,
        False,
        py("import socket\nsocket.create_connection(('orders-db', 5432), timeout=5)\n"),
        image=DEBIAN_IMAGE,
        network=True,
        subset=True,
    ),
    Fault(
        "dns-name-unknown-busybox",
        "a shell health probe dials orders-db, which does not resolve",
        D,
        False,
        ["nc", "orders-db", "5432"],
        network=True,
    ),
    Fault(
        "dependency-refuses-python",
        "the database container `db` runs, but nothing listens on 5432",
        D,
        True,
        py("import socket\nsocket.create_connection(('db', 5432), timeout=5)\n"),
        image=DEBIAN_IMAGE,
        network=True,
        subset=True,
    ),
    Fault(
        "dependency-refuses-busybox",
        "wget to the `db` container's port 8000, where nothing listens",
        D,
        True,
        ["wget", "-q", "-O-", "http://db:8000/healthz"],
        network=True,
    ),
    Fault(
        "port-in-use-shared-netns",
        "httpd in the network namespace of another server already bound to 8080",
        C,
        False,
        ["httpd", "-f", "-p", "8080", "-h", "/www"],
        share_netns=True,
        subset=True,
    ),
    Fault(
        "port-in-use-python",
        "a service binds 8080 twice (a second listener left in the code)",
        C,
        False,
        py(
            "import socket\na = socket.socket(); a.bind(('0.0.0.0', 8080)); a.listen()\n"
            "b = socket.socket(); b.bind(('0.0.0.0', 8080))\n"
        ),
        image=DEBIAN_IMAGE,
    ),
    # ---- health checks (the container keeps running) ---------------------------------------
    Fault(
        "health-check-times-out",
        "the health check takes longer than its 1 s timeout",
        U,
        True,
        ["sleep", "100000"],
        options={"healthcheck": health(["CMD", "sleep", "5"], interval=1.0, timeout=1.0)},
        until="unhealthy",
        subset=True,
    ),
    Fault(
        "health-check-refused",
        "the health check probes port 8080, where the service does not listen",
        U,
        True,
        ["httpd", "-f", "-p", "80", "-h", "/www"],
        options={"healthcheck": health(["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"])},
        until="unhealthy",
    ),
    # ---- crashes --------------------------------------------------------------------------
    Fault(
        "segfault-silent",
        "a native call dereferences NULL: SIGSEGV, nothing printed",
        X,
        True,
        py_inline("import ctypes\nctypes.string_at(0)\n"),
        image=DEBIAN_IMAGE,
        subset=True,
    ),
    Fault(
        "segfault-faulthandler",
        "the same SIGSEGV with Python's fault handler enabled",
        X,
        True,
        ["python3", "-X", "faulthandler", "-c", "import ctypes\nctypes.string_at(0)\n"],
        image=DEBIAN_IMAGE,
    ),
    Fault(
        "abort-double-free",
        "glibc detects a double free and aborts (SIGABRT, with --init)",
        X,
        True,
        py_inline(
            "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\n"
            "p = libc.malloc(32)\nlibc.free(ctypes.c_void_p(p))\nlibc.free(ctypes.c_void_p(p))\n"
        ),
        image=DEBIAN_IMAGE,
        options={"init": True},
    ),
    Fault(
        "abort-silent",
        "the program calls abort() (SIGABRT, with --init)",
        X,
        True,
        py_inline("import os\nos.abort()\n"),
        image=DEBIAN_IMAGE,
        options={"init": True},
    ),
    Fault(
        "unhandled-exception",
        "a bug: the service divides by a zero count",
        X,
        True,
        py("orders = []\naverage = sum(orders) / len(orders)\n"),
        image=DEBIAN_IMAGE,
    ),
    Fault(
        "syntax-error",
        "a broken build: the service's source does not parse",
        X,
        False,
        py("def handler(request:\n    return 200\n"),
        image=DEBIAN_IMAGE,
    ),
    # ---- stopped, not broken ----------------------------------------------------------------
    Fault(
        "killed-by-operator",
        "an operator runs docker kill",
        U,
        True,
        ["sleep", "100000"],
        after="kill",
    ),
    Fault(
        "stopped-by-operator",
        "an operator runs docker stop (SIGTERM reaches the process through --init)",
        U,
        True,
        ["sleep", "100000"],
        options={"init": True},
        after="stop",
        subset=True,
    ),
    Fault(
        "exits-0-when-it-should-run",
        "a service starts its server in a daemon thread and main returns: exit 0",
        U,
        True,
        py(
            "import threading, time\nprint('orders-api listening on 0.0.0.0:8080', flush=True)\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        ),
        image=DEBIAN_IMAGE,
    ),
)


def fault_named(name: str) -> Fault:
    for fault in FAULTS:
        if fault.name == name:
            return fault
    raise KeyError(name)
