"""The attacks: raw requests that each hide a harmful one, and what the proxy answers.

Statuses are what HAProxy 2.6 (Debian bookworm) does with the shipped config: 400
(once 413) is HAProxy's own parser refusing the message, 403 is one of our rules
(`reason` is part of its message), and 200 means only the allowed request in front
reached the daemon: the smuggled bytes behind it, pipelined plainly or after a bare
LF (which HAProxy takes as a line end), are a second request on the connection,
which `option httpclose` never reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from testbed.containers import RUN_LABEL, TEST_IMAGE


@dataclass(frozen=True)
class Target:
    """What an attack aims at: the victim, and a unique name for anything it would make."""

    victim: str
    token: str
    run_id: str

    def smuggled(self, kind: str) -> bytes:
        """A complete request that does harm if the daemon ever processes it."""
        body = b""
        if kind == "create":
            target = f"/v1.41/containers/create?name={self.token}"
            body = json.dumps(
                {
                    "Image": TEST_IMAGE,
                    "Cmd": ["true"],
                    "Labels": {RUN_LABEL: self.run_id},
                    "HostConfig": {"Privileged": True, "Binds": ["/:/host"]},
                }
            ).encode()
        elif kind == "exec":
            target = f"/v1.41/containers/{self.victim}/exec"
            body = json.dumps({"Cmd": ["echo", self.token], "AttachStdout": True}).encode()
        elif kind == "kill":
            target = f"/v1.41/containers/{self.victim}/kill?signal=KILL"
        elif kind == "tag":
            target = f"/v1.41/images/{TEST_IMAGE}/tag?repo={self.token}&tag=1"
        elif kind == "pull":
            target = f"/v1.41/images/create?fromImage={self.token}&tag=1"
        else:
            raise ValueError(kind)
        return (
            f"POST {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


@dataclass(frozen=True)
class Attack:
    name: str
    role: str
    payload: Callable[[Target], bytes]
    status: int
    # For a 403: the proxy's reason (a rule of ours); any other status is HAProxy's own.
    reason: str = ""


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"


H = "Host: docker\r\n"
PING = f"GET /v1.41/_ping HTTP/1.1\r\n{H}".encode()


def with_body(head: str, body: bytes) -> bytes:
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


ATTACKS = [
    # --- line endings and header folding ---------------------------------------
    Attack(
        "bare-lf-in-header-then-privileged-create",
        "exporter",
        lambda t: PING + b"X-Note: a\n\n" + t.smuggled("create"),
        200,
    ),
    Attack(
        "bare-lf-in-header-then-exec",
        "exporter",
        lambda t: PING + b"X-Note: a\n\n" + t.smuggled("exec"),
        200,
    ),
    Attack(
        "bare-lf-in-header-then-pull",
        "exporter",
        lambda t: PING + b"X-Note: a\n\n" + t.smuggled("pull"),
        200,
    ),
    Attack(
        "lf-only-request-then-kill",
        "exporter",
        lambda t: b"GET /v1.41/_ping HTTP/1.1\nHost: docker\n\n" + t.smuggled("kill"),
        200,
    ),
    Attack(
        "bare-cr-in-header-then-create",
        "exporter",
        lambda t: PING + b"X-Note: a\r" + t.smuggled("create"),
        400,
    ),
    Attack(
        "obs-fold-hides-kill",
        "exporter",
        lambda t: (
            PING
            + b"X-Note: a\r\n "
            + f"POST /v1.41/containers/{t.victim}/kill?signal=KILL HTTP/1.1\r\n\r\n".encode()
        ),
        200,
    ),
    Attack(
        "nul-in-a-forwarded-header",
        "exporter",
        lambda t: PING + b"User-Agent: a\x00b\r\n\r\n" + t.smuggled("create"),
        403,
        "control characters",
    ),
    # --- message framing: Content-Length and Transfer-Encoding -----------------
    Attack(
        "content-length-body-carries-create",
        "exporter",
        lambda t: with_body(f"GET /v1.41/_ping HTTP/1.1\r\n{H}", t.smuggled("create")),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "duplicate-equal-content-length",
        "exporter",
        lambda t: (
            PING
            + f"Content-Length: {len(t.smuggled('create'))}\r\n".encode()
            + with_body("", t.smuggled("create"))
        ),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "conflicting-content-length",
        "exporter",
        lambda t: PING + b"Content-Length: 0\r\n" + with_body("", t.smuggled("create")),
        400,
    ),
    Attack(
        "content-length-list",
        "exporter",
        lambda t: (
            PING
            + f"Content-Length: 0, {len(t.smuggled('create'))}\r\n\r\n".encode()
            + t.smuggled("create")
        ),
        400,
    ),
    Attack(
        "content-length-with-chunked",
        "exporter",
        lambda t: (
            PING
            + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(t.smuggled("create"))
        ),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "chunked-then-create-after-last-chunk",
        "exporter",
        lambda t: PING + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + t.smuggled("create"),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "transfer-encoding-chunked-comma",
        "exporter",
        lambda t: PING + b"Transfer-Encoding: chunked ,\r\n\r\n" + chunked(t.smuggled("exec")),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "transfer-encoding-xchunked",
        "exporter",
        lambda t: PING + b"Transfer-Encoding: xchunked\r\n\r\n" + chunked(t.smuggled("exec")),
        400,
    ),
    Attack(
        "transfer-encoding-space-before-colon",
        "exporter",
        lambda t: PING + b"Transfer-Encoding : chunked\r\n\r\n" + chunked(t.smuggled("exec")),
        400,
    ),
    Attack(
        "transfer-encoding-tab",
        "exporter",
        lambda t: PING + b"Transfer-Encoding:\tchunked\r\n\r\n" + chunked(t.smuggled("exec")),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "transfer-encoding-twice",
        "exporter",
        lambda t: (
            PING
            + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(t.smuggled("exec"))
        ),
        400,
    ),
    Attack(
        "transfer-encoding-identity",
        "exporter",
        lambda t: PING + b"Transfer-Encoding: identity\r\n\r\n" + t.smuggled("exec"),
        400,
    ),
    Attack(
        "transfer-encoding-on-http-1.0",
        "exporter",
        lambda t: (
            b"GET /v1.41/_ping HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(t.smuggled("kill"))
        ),
        413,
    ),
    Attack(
        "malformed-chunk-size",
        "exporter",
        lambda t: (
            PING
            + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
            + t.smuggled("create")
            + b"\r\n0\r\n\r\n"
        ),
        400,
    ),
    Attack(
        "overflowing-chunk-size",
        "exporter",
        lambda t: (
            PING
            + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"
            + t.smuggled("create")
        ),
        400,
    ),
    # --- the request target ----------------------------------------------------
    Attack(
        "absolute-form-create",
        "healer",
        lambda t: t.smuggled("create").replace(b"POST /", b"POST http://docker/", 1),
        403,
        "origin-form",
    ),
    Attack(
        "absolute-form-of-an-allowed-call",
        "exporter",
        lambda t: (
            f"GET http://docker/v1.41/containers/{t.victim}/json HTTP/1.1\r\n{H}\r\n".encode()
        ),
        403,
        "origin-form",
    ),
    Attack(
        "double-slash-authority-create",
        "healer",
        lambda t: t.smuggled("create").replace(b"POST /", b"POST //docker/", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "double-slash-in-path-create",
        "healer",
        lambda t: t.smuggled("create").replace(b"/containers/", b"//containers/", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "fragment-hides-traversal",
        "healer",
        lambda t: t.smuggled("create").replace(
            b"/v1.41/containers/create", f"/v1.41/containers/{t.victim}/restart#/../..".encode()
        ),
        400,
    ),
    Attack(
        "query-hides-traversal",
        "exporter",
        lambda t: (
            f"GET /v1.41/_ping?/../../containers/create?name={t.token} HTTP/1.1\r\n{H}\r\n".encode()
        ),
        200,
    ),
    Attack(
        "allowed-path-in-query-of-create",
        "healer",
        lambda t: t.smuggled("create").replace(b"?name=", b"?x=/v1.41/_ping&name=", 1),
        403,
        "is not allowed for role",
    ),
    Attack(
        "dot-dot-from-restart-to-kill",
        "healer",
        lambda t: t.smuggled("kill").replace(b"/kill?", b"/restart/../kill?", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "dot-dot-from-version-prefix",
        "healer",
        lambda t: t.smuggled("create").replace(b"/v1.41/", b"/v1.41/../", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "percent-encoded-dot-dot",
        "healer",
        lambda t: t.smuggled("create").replace(
            b"/containers/create", f"/containers/{t.victim}/%2e%2e/create".encode(), 1
        ),
        403,
        "must be canonical",
    ),
    Attack(
        "percent-encoded-slash",
        "healer",
        lambda t: t.smuggled("create").replace(b"/containers/create", b"/containers%2fcreate", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "percent-encoded-restart-segment",
        "healer",
        lambda t: t.smuggled("kill").replace(b"/kill?", b"/%72estart/..%2fkill?", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "backslash-traversal",
        "healer",
        lambda t: t.smuggled("create").replace(
            b"/containers/create", f"/containers/{t.victim}\\..\\create".encode(), 1
        ),
        403,
        "must be canonical",
    ),
    Attack(
        "trailing-slash",
        "healer",
        lambda t: t.smuggled("create").replace(b"/create?", b"/create/?", 1),
        403,
        "must be canonical",
    ),
    Attack(
        "lowercase-method",
        "healer",
        lambda t: t.smuggled("create").replace(b"POST ", b"post ", 1),
        403,
        "is not allowed for role",
    ),
    # --- more than one request on a connection ---------------------------------
    Attack(
        "pipelined-create-after-ping",
        "exporter",
        lambda t: PING + b"\r\n" + t.smuggled("create"),
        200,
    ),
    Attack(
        "pipelined-kill-after-inspect",
        "exporter",
        lambda t: (
            f"GET /v1.41/containers/{t.victim}/json HTTP/1.1\r\n{H}\r\n".encode()
            + t.smuggled("kill")
        ),
        200,
    ),
    Attack(
        "pipelined-tag-after-version",
        "exporter",
        lambda t: f"GET /version HTTP/1.1\r\n{H}\r\n".encode() + t.smuggled("tag"),
        200,
    ),
    Attack(
        "pipelined-exec-after-logs",
        "healer",
        lambda t: (
            f"GET /v1.41/containers/{t.victim}/logs?stdout=1 HTTP/1.1\r\n{H}\r\n".encode()
            + t.smuggled("exec")
        ),
        200,
    ),
    Attack(
        "pipelined-kill-after-http-1.0-keep-alive",
        "exporter",
        lambda t: (
            b"GET /v1.41/_ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + t.smuggled("kill")
        ),
        200,
    ),
    # --- the one allowed POST cannot carry anything ----------------------------
    Attack(
        "restart-with-a-body",
        "healer",
        lambda t: with_body(
            f"POST /v1.41/containers/{t.victim}/restart HTTP/1.1\r\n{H}", t.smuggled("kill")
        ),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "restart-with-a-chunked-body",
        "healer",
        lambda t: (
            f"POST /v1.41/containers/{t.victim}/restart HTTP/1.1\r\n{H}".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + chunked(t.smuggled("exec"))
        ),
        403,
        "bodies are not allowed",
    ),
    Attack(
        "restart-with-expect-continue",
        "healer",
        lambda t: with_body(
            f"POST /v1.41/containers/{t.victim}/restart HTTP/1.1\r\n{H}Expect: 100-continue\r\n",
            t.smuggled("kill"),
        ),
        403,
        "bodies are not allowed",
    ),
    # --- hijacking and other protocols -----------------------------------------
    Attack(
        "upgrade-on-an-allowed-call",
        "exporter",
        lambda t: (
            f"GET /v1.41/containers/{t.victim}/json HTTP/1.1\r\n{H}".encode()
            + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            + t.smuggled("exec")
        ),
        403,
        "protocol upgrades",
    ),
    Attack(
        "upgrade-in-a-connection-list",
        "exporter",
        lambda t: (
            PING + b"Connection: keep-alive, Upgrade\r\nUpgrade: tcp\r\n\r\n" + t.smuggled("kill")
        ),
        403,
        "protocol upgrades",
    ),
    Attack(
        "attach-hijack",
        "healer",
        lambda t: (
            f"POST /v1.41/containers/{t.victim}/attach?stream=1&stdin=1 HTTP/1.1\r\n{H}".encode()
            + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            + t.smuggled("exec")
        ),
        403,
        "is not allowed for role",
    ),
    Attack(
        "h2c-upgrade",
        "exporter",
        lambda t: (
            PING
            + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
            + t.smuggled("create")
        ),
        403,
        "protocol upgrades",
    ),
    Attack(
        "http2-prior-knowledge",
        "exporter",
        lambda t: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + t.smuggled("create"),
        400,
    ),
    # --- oversized heads -------------------------------------------------------
    Attack(
        "oversized-head-then-create",
        "exporter",
        lambda t: PING + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n" + t.smuggled("create"),
        400,
    ),
    Attack(
        "too-many-headers-then-create",
        "exporter",
        lambda t: (
            PING + b"".join(b"X-H%d: a\r\n" % i for i in range(40)) + b"\r\n" + t.smuggled("create")
        ),
        400,
    ),
]
