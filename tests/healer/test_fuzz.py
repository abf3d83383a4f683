"""Property-based fuzzing of every place where a caller's bytes become values.

The webhook fuzz starts from real Alertmanager 0.25 deliveries (`deliveries/`,
captured on the test bed: an alert posted to prometheus-alertmanager's v2 API
the way Prometheus posts it, delivered to a loopback webhook) and mutates them:
values replaced by other JSON types, odd and huge strings, numbers and nested
structures; times from a calendar that includes impossible dates; fields dropped
or duplicated; JSON bombs (deep nesting, 5000-digit numbers, thousands of
labels); raw byte edits of the serialized body; odd Content-Length and
Authorization headers. The read-side fuzz sends odd ids, paths and query strings
to the API and the pages.

Every request goes through the app's WSGI interface, `app(environ, start_response)`
as gunicorn calls it, so the webhook component in front of Flask answers the
webhook and Flask answers the rest. With a store that works, the properties are:
no exception escapes, no 5xx, and every 4xx is JSON with an `error` string (the
HTML incident page's own 404 for browsers excepted).

Figures: `pytest -s tests/healer/test_fuzz.py` prints the requests tried, the
status histogram and the time taken. The examples are derandomized and no
example database is kept, so CI sees the same ones on every run. To explore
further (fresh examples, more of them; past pytest's 300 s timeout):
`ITOPS_FUZZ_RANDOM=1 ITOPS_FUZZ_EXAMPLES=20000 pytest -s -o timeout=0 tests/healer/test_fuzz.py`.
"""

from __future__ import annotations

import copy
import json
import os
import time
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.healer_proc import TOKEN
from tests.healer.conftest import Healer, build_healer, close_healer
from tests.healer.wsgi import WEBHOOK, call

DELIVERIES = Path(__file__).parent / "deliveries"
REAL = [
    json.loads((DELIVERIES / name).read_bytes())
    for name in ("alertmanager-0.25-firing.json", "alertmanager-0.25-resolved.json")
]
READ_TOKEN = "read-token-0123456789abcdef"
RANDOM = os.environ.get("ITOPS_FUZZ_RANDOM") == "1"
SCALE = int(os.environ.get("ITOPS_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=SCALE or examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def healer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Healer]:
    made = build_healer(
        tmp_path_factory.mktemp("fuzz"), start_workers=False, HEALER_READ_TOKEN=READ_TOKEN
    )
    yield made
    close_healer(made)


class Tally:
    """Sends each request, checks the answer, counts statuses; prints the figures."""

    def __init__(self, app: Flask, what: str) -> None:
        self.app = app
        self.what = what
        self.statuses: Counter[int] = Counter()
        self.started = time.perf_counter()
        self.in_app = 0.0

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        environ: dict[str, Any] | None = None,
        html_404_ok: bool = False,
    ) -> None:
        started = time.perf_counter()
        answer = call(self.app, method, path, body=body, headers=headers, environ=environ)
        self.in_app += time.perf_counter() - started
        self.statuses[answer.status] += 1
        assert answer.status < 500, (answer.status, answer.body[:300])
        if 400 <= answer.status < 500:
            if html_404_ok and answer.status == 404 and not answer.is_json:
                assert answer.headers["Content-Type"].startswith("text/html")
            else:
                answer.error()  # asserts a JSON object with an `error` string

    def report(self) -> None:
        seconds = time.perf_counter() - self.started
        histogram = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        print(
            f"\nfuzz {self.what}: {self.total} tried in {seconds:.1f} s"
            f" ({self.in_app:.1f} s in the app); statuses {histogram}"
        )

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


# -- values ------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\n",
    "\u202e",
    "\ufeff",
    "𝟙",
    "٤",
    "FIRING",
    "firing ",
    "resolved\x00",
    "4 ",
    "1e309",
    "NaN",
    "-0",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "{{ config }}",
    "x" * 8192,
    "x" * 8193,
]
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
odd_strings = st.sampled_from(ODD_STRINGS) | any_text


@st.composite
def times(draw: st.DrawFn) -> str:
    """RFC 3339-shaped times from a calendar that also has impossible dates and offsets."""
    year = draw(st.sampled_from([0, 1, 1969, 1970, 2024, 2199, 2200, 2201, 9999, 10000]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 61)),
        draw(st.integers(0, 61)),
    )
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".123456789", "." + "9" * 30]))
    zone = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "+01:60"])
    )
    sep = draw(st.sampled_from(["T", "T", "T", "t", " "]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | odd_strings
    | times()
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_strings, children, max_size=4)
    ),
    max_leaves=12,
)


# -- payload mutations ----------------------------------------------------------------

# Bombs are spliced into the serialized text in place of a sentinel string: built as
# Python values they would first blow up json.dumps itself.
BOMBS: list[Callable[[], bytes]] = [
    lambda: b"[" * 100_000 + b"]" * 100_000,
    lambda: b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    lambda: b"[" * 900 + b"]" * 900,  # under the recursion limit: parsed, then ignored
    lambda: b"7" * 5_000,
    lambda: b"-" + b"9" * 4_301,
    lambda: b"1" * 400 + b"." + b"1" * 400 + b"e999999",
    lambda: b"1e999999",
    lambda: b"NaN",
    lambda: b"-Infinity",
    lambda: json.dumps("y" * 500_000).encode(),
    lambda: json.dumps({f"label{i}": "v" for i in range(5_000)}).encode(),
    lambda: json.dumps(["a"] * 50_000).encode(),
    lambda: b'"' + b"\\ud800" * 1000 + b'"',
]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document, parents before children."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def deliveries(draw: st.DrawFn) -> bytes:
    """A real delivery, mutated a few times, serialized, maybe edited as raw bytes.

    At most one bomb and one multiplication of the alerts, so no body grows much
    past the 1 MiB cap (the fuzzer must not eat the shared machine's memory).
    """
    doc = copy.deepcopy(draw(st.sampled_from(REAL)))
    splices: dict[bytes, bytes] = {}
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(list(paths(doc))))
        if not path:
            doc = draw(json_values) if draw(st.sampled_from(range(10))) == 9 else doc
            continue
        parent, key = at(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "time", "drop", "duplicate key"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "time":
            parent[key] = draw(times())
        elif op == "drop" and isinstance(parent, dict):
            del parent[key]
        elif op == "duplicate key" and isinstance(parent, dict):
            sentinel = f"\0dup{len(splices)}"
            parent[sentinel] = draw(json_values)  # last: Python's json keeps the last one
            splices[json.dumps(sentinel).encode()] = json.dumps(key).encode()
    places = [p for p in paths(doc) if p]
    if places and draw(st.sampled_from(range(4))) == 3:
        path = draw(st.sampled_from(places))
        at(doc, path[:-1])[path[-1]] = "\0bomb"
        splices[json.dumps("\0bomb").encode()] = draw(st.sampled_from(BOMBS))()
    if isinstance(doc, dict) and isinstance(doc.get("alerts"), list):
        # The same alert objects again: only serialized from here on, so no copies needed.
        doc["alerts"] = doc["alerts"][:3] * draw(st.sampled_from([1, 1, 1, 1, 2, 3, 50, 1001]))
    body = json.dumps(doc).encode()
    for marker, text in splices.items():
        body = body.replace(marker, text, 1)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 3]))):
        body = draw(byte_edits(body))
    return body


@st.composite
def byte_edits(draw: st.DrawFn, body: bytes) -> bytes:
    where = draw(st.integers(0, len(body)))
    op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
    if op == "flip" and where < len(body):
        return (
            body[:where] + bytes([body[where] ^ (1 << draw(st.integers(0, 7)))]) + body[where + 1 :]
        )
    if op == "insert":
        return body[:where] + draw(st.binary(min_size=1, max_size=8)) + body[where:]
    if op == "delete":
        return body[:where] + body[where + draw(st.integers(1, 64)) :]
    if op == "truncate":
        return body[:where]
    return body[:where] + body[where : where + 64] * draw(st.integers(2, 20)) + body[where:]


@st.composite
def webhook_calls(draw: st.DrawFn) -> tuple[bytes, dict[str, str], dict[str, Any]]:
    """(body, headers, raw environ overrides) of one POST to the webhook."""
    body = draw(deliveries())
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain", ""]))}
    # Mostly the right token, so that the payload is what is tested. (Hypothesis
    # favours the first choice of a sampled_from, so the rare branch is the last one.)
    auth = f"Bearer {TOKEN}"
    if draw(st.sampled_from(range(10))) == 9:
        auth = draw(
            st.sampled_from(["", "Bearer", "bearer  x", "Basic Og==", f"Bearer {TOKEN}x"])
            | odd_strings.map(lambda s: s.encode("latin-1", "replace").decode("latin-1"))
        )
    # Raw in the environ: a server passes any latin-1 text; Werkzeug's builder would refuse some.
    environ: dict[str, Any] = {"HTTP_AUTHORIZATION": auth} if auth else {}
    length = draw(
        st.sampled_from(["exact"] * 6 + ["absent", "short", "\xb2", "-1", "9" * 40, "0", "1e3"])
    )
    if length == "absent":
        environ["CONTENT_LENGTH"] = ""
    elif length == "short":
        environ["CONTENT_LENGTH"] = str(max(len(body) - 7, 0))
    elif length != "exact":
        environ["CONTENT_LENGTH"] = length
    return body, headers, environ


# -- read-side requests ---------------------------------------------------------------

ids = (
    st.integers(-5, 2**70).map(str)
    | st.sampled_from([str(2**63 - 1), str(2**63), "9" * 5000, "0" * 30 + "1", "1.0", "0x10"])
    | st.text("0123456789٠١٢𝟙²", min_size=1, max_size=25)
    | odd_strings.map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe=""))
)
arg_values = (
    st.integers(-5, 2**70).map(str)
    | st.sampled_from(["", "9" * 5000, "+1", " 1", "1_0", "1.5", "open", "OPEN", "%00", "%ff"])
    | st.sampled_from(["open", "healed", "failed", "quarantined", "skipped", "resolved"])
    | odd_strings
)


# Any byte a request line can carry: all but CR and LF, which end it on the wire.
request_line_bytes = st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["limit", "offset", "status", "container", "x", "limit[]", ""]),
                arg_values,
            ),
            max_size=5,
        )
    )
    text = "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs
    )
    if draw(st.booleans()):
        raw = draw(request_line_bytes).decode("latin-1")  # undecoded, as a server passes it
        text += "&" + raw
    return text


@st.composite
def read_calls(draw: st.DrawFn) -> tuple[str, str, str, str, bool]:
    """(method, PATH_INFO, QUERY_STRING, Authorization, html_404_ok) of one read request."""
    ident = draw(ids)
    name = draw(odd_strings.map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")))
    method, path = draw(
        st.sampled_from(
            [
                ("GET", "/api/incidents"),
                ("GET", "/api/incidents"),
                ("GET", "/api/incidents"),
                ("GET", f"/api/incidents/{ident}"),
                ("GET", f"/api/incidents/{ident}"),
                ("GET", f"/incidents/{ident}"),
                ("GET", "/api/quarantine"),
                ("POST", f"/api/quarantine/{name}/clear"),
                ("GET", "/"),
                ("GET", "/metrics"),
                ("DELETE", "/api/incidents"),
                ("GET", f"/{name}"),
            ]
        )
    )
    # PATH_INFO is the request's bytes as latin-1 text (PEP 3333), as servers pass it.
    path = path.encode("utf-8", "surrogatepass").decode("latin-1")
    if draw(st.sampled_from(range(10))) == 9:
        path = draw(request_line_bytes).decode("latin-1")  # raw bytes in the path
    credential = f"Bearer {READ_TOKEN}"
    if draw(st.sampled_from(range(10))) == 9:
        credential = draw(
            st.sampled_from(
                [
                    f"Bearer {TOKEN}",
                    "Basic " + b64encode(f"u:{READ_TOKEN}".encode()).decode(),
                    "",
                    "Basic !!!",
                    "Basic " + b64encode(b"\xff\xfe:\x00").decode(),
                    "Digest x",
                ]
            )
            | odd_strings.map(lambda s: s.encode("latin-1", "replace").decode("latin-1"))
        )
    return method, path, draw(query_strings()), credential, path.startswith("/incidents/")


# -- the properties --------------------------------------------------------------------


def refusals_counted(healer: Healer, result: str) -> float:
    value = healer.runtime.metrics.registry.get_sample_value(
        "healer_webhook_alerts_total", {"result": result}
    )
    return value or 0.0


def test_fuzzed_webhook_deliveries_never_crash_or_answer_5xx(healer: Healer) -> None:
    tally = Tally(healer.app, "webhook deliveries")
    invalid_before = refusals_counted(healer, "invalid")

    @fuzz_settings(1500)
    @given(request=webhook_calls())
    def deliver(request: tuple[bytes, dict[str, str], dict[str, Any]]) -> None:
        body, headers, environ = request
        tally.send("POST", WEBHOOK, body=body, headers=headers, environ=environ)

    deliver()
    tally.report()
    assert tally.statuses[200] > 0 and tally.statuses[400] > 0  # both sides were reached
    # Every 400 was the intake component's own (Flask never saw these requests).
    assert refusals_counted(healer, "invalid") - invalid_before == tally.statuses[400]


def test_fuzzed_reads_of_the_api_and_pages_never_crash_or_answer_5xx(healer: Healer) -> None:
    # Some incidents to page through and look up.
    for body in (json.dumps(d).encode() for d in REAL):
        call(healer.app, "POST", WEBHOOK, body=body, headers={"Authorization": f"Bearer {TOKEN}"})
    tally = Tally(healer.app, "reads")

    @fuzz_settings(750)
    @given(request=read_calls())
    def read(request: tuple[str, str, str, str, bool]) -> None:
        method, path, query, credential, html_404_ok = request
        raw = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_AUTHORIZATION": credential}
        tally.send(method, "/", environ=raw, html_404_ok=html_404_ok)

    read()
    tally.report()
    assert tally.statuses[200] > 0 and tally.statuses[404] > 0
