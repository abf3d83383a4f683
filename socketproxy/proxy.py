"""The asyncio proxy: check the request head, forward it alone, relay the answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from socketproxy.roles import Role

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT = 10.0
# Headers that describe one hop, not the request; ours are rewritten.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Upstream:
    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Upstream:
        if text.startswith("unix://"):
            return cls(unix_path=text.removeprefix("unix://"))
        if text.startswith("tcp://"):
            host, _, port = text.removeprefix("tcp://").rpartition(":")
            return cls(host=host, port=int(port))
        raise ValueError(f"upstream {text!r}: expected unix:///path or tcp://host:port")

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.unix_path:
            return await asyncio.open_unix_connection(self.unix_path)
        return await asyncio.open_connection(self.host, self.port)


def refusal(status: int, reason: str, message: str) -> bytes:
    # Docker's own error shape, so the SDK shows the message in its APIError.
    body = json.dumps({"message": message}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class Proxy:
    def __init__(self, role: Role, upstream: Upstream) -> None:
        self.role = role
        self.upstream = upstream

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # one broken connection must not stop the listener
            log.exception("proxy connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=HEAD_TIMEOUT)
        except asyncio.LimitOverrunError:
            writer.write(refusal(431, "Request Header Fields Too Large", "request head too large"))
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            writer.write(refusal(400, "Bad Request", "malformed request line"))
            return
        method, target, _ = parts
        path = unquote(urlsplit(target).path)
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        names = {name.strip().lower(): value.strip() for name, value in headers}
        if ".." in path or "//" in path:
            writer.write(refusal(403, "Forbidden", f"path not allowed: {path}"))
            return
        if not self.role.allows(method, path):
            log.warning("refused %s %s for role %s", method, path, self.role.name)
            writer.write(
                refusal(
                    403,
                    "Forbidden",
                    f"{method} {path} is not allowed for role {self.role.name} by the socket proxy",
                )
            )
            return
        # Every allowed call is bodiless; refusing bodies keeps request framing trivial.
        if "transfer-encoding" in names or int(names.get("content-length", "0") or 0) > 0:
            writer.write(refusal(403, "Forbidden", "request bodies are not allowed"))
            return
        up_reader, up_writer = await self.upstream.connect()
        try:
            kept = [
                f"{name.strip()}: {value.strip()}"
                for name, value in headers
                if name.strip().lower() not in HOP_BY_HOP
            ]
            out = "\r\n".join([lines[0], *kept, "Connection: close", "", ""])
            up_writer.write(out.encode("latin-1"))
            await up_writer.drain()
            relay = asyncio.create_task(self._relay(up_reader, writer))
            # Bytes the client sends now would be a second request: read and drop
            # them, and stop relaying when the client goes away (events, logs follow).
            discard = asyncio.create_task(self._drain_client(reader))
            _done, pending = await asyncio.wait(
                {relay, discard}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    @staticmethod
    async def _relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()

    @staticmethod
    async def _drain_client(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass


async def serve(listeners: list[tuple[str, int, Role]], upstream: Upstream) -> None:
    servers = []
    for host, port, role in listeners:
        proxy = Proxy(role, upstream)
        servers.append(await asyncio.start_server(proxy.handle, host, port, limit=MAX_HEAD_BYTES))
        log.info("role %s listening on %s:%d", role.name, host, port)
    await asyncio.gather(*(s.serve_forever() for s in servers))
