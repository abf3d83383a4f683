"""What the exporter and the healer both need to know about containers.

One place for the managed-label selector, the critical-service rule, the parsed
view of `docker inspect`, and how a Docker client is built from the environment,
so the two services can never disagree about which containers are theirs.
"""
