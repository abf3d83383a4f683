"""A least-privilege proxy in front of the Docker socket.

Each listener has a role with an allowlist of (method, path) pairs. Anything
else is refused with 403 before a byte reaches the daemon. One request per
connection: pipelined or follow-up requests on the same connection are never
forwarded, so an allowed first request cannot smuggle a forbidden second one.
"""
