"""How a container's last run ended, as the Docker Engine reports it: what a finding explains.

The exit code and the OOMKilled flag come from the engine, not from the
program, so they rank a diagnosis before any log line does
(`ranking.py`). Signatures say which of these exits they explain
(`exits:` in `signatures.yaml`, with defaults by category here).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from fleet.facts import ContainerFacts
from healer.model import Category

CRASH_SIGNALS = frozenset({132, 133, 135, 136, 139, 159})  # ILL TRAP BUS FPE SEGV SYS
ABORT_SIGNAL = 134
LIMIT_SIGNALS = frozenset({152, 153})  # SIGXCPU, SIGXFSZ
STOP_SIGNALS = frozenset({130, 137, 143})  # SIGINT, SIGKILL (without an OOM kill), SIGTERM


class Exit(StrEnum):
    """How the container's last run ended, as the Docker Engine reports it.

    The first six are exits a finding can *explain* (a signature's `exits`); the
    others say little on their own, so any finding is compatible with them.
    """

    OOM = "oom"  # OOMKilled: the kernel killed it for memory
    SIGNAL = "signal"  # a fault the kernel raised: SIGSEGV, SIGBUS, SIGFPE, SIGILL
    LIMIT = "limit"  # killed for a resource limit: SIGXCPU (152), SIGXFSZ (153)
    STOP = "stop"  # stopped from outside: SIGTERM (143), SIGINT (130), SIGKILL (137)
    CLEAN = "clean"  # exit code 0
    EXEC = "exec"  # 126/127: the command could not be run
    # SIGABRT (134) is how .NET, C++ and Rust (panic=abort) end on any unhandled error, so it
    # is not loud: whatever error the program printed before it may explain it.
    ABORT = "abort"
    ERROR = "error"  # any other non-zero exit code
    LIVE = "live"  # running or paused: no exit to explain
    GONE = "gone"  # the container no longer exists


EXPLAINABLE = frozenset({Exit.OOM, Exit.SIGNAL, Exit.LIMIT, Exit.STOP, Exit.CLEAN, Exit.EXEC})
# What a category explains when its signature does not say (`exits:` replaces this): memory,
# limits and crash signals are what resources and crashes end in; 126/127 mean a command
# that cannot be run.
EXITS_BY_CATEGORY: Mapping[Category, frozenset[Exit]] = {
    Category.RESOURCE: frozenset({Exit.OOM, Exit.SIGNAL, Exit.LIMIT}),
    Category.CRASH: frozenset({Exit.SIGNAL}),
    Category.CONFIGURATION: frozenset({Exit.EXEC}),
    Category.DEPENDENCY: frozenset(),
    Category.UNKNOWN: frozenset(),
}


def exit_of(facts: ContainerFacts | None) -> Exit:
    """How the container's last run ended, from the engine's facts alone."""
    if facts is None:
        return Exit.GONE
    if facts.oom_killed:
        return Exit.OOM
    code = facts.exit_code
    if facts.state in ("running", "paused") or (facts.state == "created" and code == 0):
        return Exit.LIVE
    if code == 0:
        return Exit.CLEAN
    if code in (126, 127):
        return Exit.EXEC
    if code in CRASH_SIGNALS:
        return Exit.SIGNAL
    if code == ABORT_SIGNAL:
        return Exit.ABORT
    if code in LIMIT_SIGNALS:
        return Exit.LIMIT
    if code in STOP_SIGNALS:
        return Exit.STOP
    return Exit.ERROR
