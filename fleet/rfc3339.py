"""RFC 3339 times, as Go writes them (Docker, Alertmanager), read as epoch seconds.

The shape is checked with a pattern, the calendar by the standard library:
a pattern alone lets February 30, month 13, hour 24 and year 0 through.
"""

from __future__ import annotations

import re
from datetime import datetime

# ASCII digits only (`\d` would take any script's digits) and the whole string
# (`$` would let a trailing newline through). Any number of fraction digits:
# Go writes up to nine, RFC 3339 sets no limit.
_SHAPE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)

# Go's zero time.Time: Docker's "never" and Alertmanager's "not ended yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 time; ValueError with a reason a person can act on.

    A time zone is required (Z or ±HH:MM); a leap second (:60) is refused, as Go does.
    """
    match = _SHAPE.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.fraction] and Z or ±HH:MM)")
    zone = match["zone"]
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif int(zone[1:3]) > 23 or int(zone[4:6]) > 59:
        # fromisoformat would read +01:60 as +02:00
        raise ValueError(f"impossible UTC offset {zone}")
    try:
        at = datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
    except ValueError as exc:
        raise ValueError(f"impossible date or time ({exc})") from None
    # The fraction apart: fromisoformat keeps microseconds at most, Go writes nanoseconds.
    fraction = match["fraction"]
    return at.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
