"""`python -m socketproxy --listen HOST:PORT=ROLE ... --upstream unix:///var/run/docker.sock`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from socketproxy.proxy import Upstream, serve
from socketproxy.roles import ROLES, Role


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m socketproxy",
        description="Least-privilege Docker socket proxy with one role per listener.",
    )
    parser.add_argument(
        "--listen",
        action="append",
        required=True,
        metavar="HOST:PORT=ROLE",
        help=f"a listener and its role ({', '.join(sorted(ROLES))}); repeatable",
    )
    parser.add_argument(
        "--upstream",
        default=os.environ.get("DOCKER_UPSTREAM", "unix:///var/run/docker.sock"),
        help="the Docker daemon to forward to (default unix:///var/run/docker.sock)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    listeners = []
    try:
        upstream = Upstream.parse(args.upstream)
        for spec in args.listen:
            address, _, role_name = spec.partition("=")
            host, _, port = address.rpartition(":")
            if not port.isdigit():
                raise ValueError(f"--listen {spec!r}: expected HOST:PORT=ROLE")
            listeners.append((host or "0.0.0.0", int(port), Role(role_name)))
    except ValueError as exc:
        print(f"socketproxy: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(listeners, upstream))
    except KeyboardInterrupt:
        return 0
    return 0
