"""Secret redaction and size caps for text that leaves the container.

Log lines, health-check output and Docker errors go to the LLM, into emails,
into `alerts.log` and into the incident history. Before any of that they pass
through `redact_lines` (then `cap_lines`), which replaces secret *values* with
`[REDACTED]` and keeps the names, so a reader still sees which setting was
involved:

- assignments to secret-looking keys, env, YAML, JSON or CLI style:
  `DB_PASSWORD=...`, `GITHUB_TOKEN=...`, `AWS_SECRET_ACCESS_KEY=...`,
  `"api_key": "..."`, `--password ...`, `--db-password=...`, `--api_key ...`;
  a Gmail app password (`abcd efgh ijkl mnop`) is taken whole when it follows
  such a key, and only then, so four ordinary words elsewhere stay as they are.
  An unquoted value ends at a closing quote (a quote followed by `:`, `,`, `]`
  ...), so Docker's `exec: "--db-password=x": executable file not found` keeps
  its shape around the [REDACTED];
- `Authorization:` / `Proxy-Authorization:` header values (the scheme is
  kept), `Bearer ...` tokens anywhere, `Cookie:` / `Set-Cookie:` values;
- the password in URLs (`postgres://user:[REDACTED]@host/db`);
- PEM private key blocks, within one text or across lines (`redact_lines`);
- JWTs and well-known token formats (GitHub, Slack, AWS key ids, Google API
  keys, OpenAI/Stripe secret keys, GitLab).

Each rule is guarded by a cheap substring test, so a line without any of the
trigger words costs a few `in` checks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

REDACTED = "[REDACTED]"
TRUNCATED_MARK = "…"

# The rest of a key after its secret word is bounded, so a long run of word
# characters cannot make the search quadratic.
_SENSITIVE_NAME = (
    r"(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|"
    r"private[_-]?key|credentials?)[\w.-]{0,40}?"
    r"|(?<![a-z0-9])(?:pass|pwd)(?![a-z0-9])[\w.-]{0,40}?"
)
# An unquoted value: a password may hold a quote, but a quote followed by punctuation
# closes something the value sits in (`"--db-password=x":`, `["--token=x","-v"]`).
_BARE_VALUE = r"""[^\s"']+(?:["'](?![:,;)\]}])[^\s"']+)*"""
_ASSIGNMENT = re.compile(
    rf"""(?ix)
    (?P<key>{_SENSITIVE_NAME})
    (?P<sep>["']?[ \t]*[:=][ \t]*)
    (?P<value>
        "(?:[^"\\\n]|\\.)*"
      | '[^'\n]*'
      | (?-i:[a-z]{{4}}(?P<gap>[ -]?)[a-z]{{4}}(?P=gap)[a-z]{{4}}(?P=gap)[a-z]{{4}})(?![\w-])
      | {_BARE_VALUE}
      | \S+
    )
    """
)
# A flag's value is its next word; "--password --verbose" has none. The flag may carry a
# prefix (`--db-password`, `--client-secret`): the search finds the secret word inside it.
_FLAG = re.compile(
    r"(?i)(?P<key>--?(?:password|passwd|passphrase|pass|token|secret|api[-_]?key|"
    r"access[-_]?key)[ \t]+)"
    rf"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?![-\"']){_BARE_VALUE}|(?!-)\S+)"
)
_PARAM = r"[\w-]+=(?:\"[^\"\n]*\"|[^\s,\"']+)"
_AUTH_HEADER = re.compile(
    r"(?i)(?P<key>\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:bearer|basic|digest|token|bot|apikey|negotiate)[ \t]+)?)"
    rf"(?P<value>{_PARAM}(?:[ \t]*,[ \t]*{_PARAM})*|[^\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)(?P<key>\bbearer[ \t]+)(?P<value>[A-Za-z0-9\-._~+/]+=*)")
_COOKIE = re.compile(r"(?i)(?P<key>\b(?:set-)?cookie[ \t]*:[ \t]*)(?P<value>\S.*)")
# URL passwords are found from each "://" (a plain substring search): the scheme
# before it, the user after it, then the password up to the last "@" of the
# run, since a password may hold "@" or "/" unencoded. Each run is read once.
_SCHEME_BEFORE = re.compile(r"(?i)[a-z][a-z0-9+.-]{0,30}\Z")
_USER_AFTER = re.compile(r"[^\s:/@]{0,200}:")
_BLANK = re.compile(r"\s")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BLOCK = re.compile(
    r"(?s)(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
    r".*?(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_KNOWN_TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{35}"
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|[sr]k_live_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{20,})"
)
# Where a secret key can start: plain substring searches find these, and the
# assignment pattern is tried only there (a regex scan of every position of
# every line would cost more than all the rest of redaction together).
_KEY_WORDS = ("pass", "pwd", "secret", "token", "api", "access", "private", "credential")
_TOKEN_PREFIXES = (
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "AKIA",
    "ASIA",
    "AIza",
    "sk-",
    "k_live_",
    "glpat-",
)


def _masked(value: str) -> str:
    """[REDACTED], inside the value's own quotes when it had them."""
    if value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0]:
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def _keep_key(match: re.Match[str]) -> str:
    return (
        f"{match.group('key')}{match.groupdict().get('sep') or ''}{_masked(match.group('value'))}"
    )


def _redact_assignments(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters change length when lowered
        return _ASSIGNMENT.sub(_keep_key, text)
    starts: set[int] = set()
    for word in _KEY_WORDS:
        at = lowered.find(word)
        while at >= 0:
            starts.add(at)
            at = lowered.find(word, at + 1)
    parts: list[str] = []
    done = 0
    for start in sorted(starts):
        if start < done:
            continue
        match = _ASSIGNMENT.match(text, start)
        if match is not None:
            parts += (text[done : match.start("value")], _masked(match.group("value")))
            done = match.end()
    return "".join(parts) + text[done:] if parts else text


def _pem(match: re.Match[str]) -> str:
    return f"{match.group('begin')}{REDACTED}{match.group('end')}"


def _redact_url_passwords(text: str) -> str:
    parts: list[str] = []
    done = 0
    mark = text.find("://")
    while mark >= 0:
        user = _USER_AFTER.match(text, mark + 3)
        if user is None or _SCHEME_BEFORE.search(text, max(0, mark - 31), mark) is None:
            mark = text.find("://", mark + 3)
            continue
        blank = _BLANK.search(text, user.end())
        run_end = blank.start() if blank else len(text)
        at = text.rfind("@", user.end(), run_end)
        if at < 0:
            mark = text.find("://", run_end)
            continue
        parts += (text[done : user.end()], REDACTED)
        done = at
        mark = text.find("://", at)
    return "".join(parts) + text[done:] if parts else text


def redact(text: str) -> str:
    """`text` with every secret value it recognises replaced by [REDACTED]."""
    if "-----BEGIN" in text:
        text = _PEM_BLOCK.sub(_pem, text)
    if "://" in text:
        text = _redact_url_passwords(text)
    lowered = text.lower()
    # Rules that keep a key run before the ones that swallow a whole value, so
    # "Bearer PASSWORD=x" cannot lose its key to the bearer rule first.
    if any(word in lowered for word in _KEY_WORDS):
        text = _redact_assignments(text)
        if "-" in text:
            text = _FLAG.sub(_keep_key, text)
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(_keep_key, text)
    if "bearer" in lowered:
        text = _BEARER.sub(_keep_key, text)
    if "cookie" in lowered:
        text = _COOKIE.sub(_keep_key, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if any(prefix in text for prefix in _TOKEN_PREFIXES):
        text = _KNOWN_TOKEN.sub(REDACTED, text)
    return text


def redact_lines(lines: Iterable[str]) -> tuple[str, ...]:
    """Each line redacted, and the body of a PEM private key spread over lines replaced.

    Line for line: a body line becomes [REDACTED], so positions still match the
    original. A block that never ends is redacted to the last line.
    """
    out: list[str] = []
    in_key = False
    for line in lines:
        if in_key:
            end = _PEM_END.search(line)
            if end is None:
                out.append(REDACTED)
                continue
            in_key = False
            body = REDACTED if line[: end.start()].strip() else ""
            out.append(body + line[end.start() : end.end()] + redact(line[end.end() :]))
            continue
        begin = _PEM_BEGIN.search(line)
        if begin is not None and _PEM_END.search(line, begin.end()) is None:
            in_key = True
            rest = REDACTED if line[begin.end() :].strip() else ""
            out.append(redact(line[: begin.start()]) + begin.group(0) + rest)
            continue
        out.append(redact(line))
    return tuple(out)


def cap_lines(
    lines: Iterable[str],
    max_lines: int,
    max_line_chars: int,
    max_total_chars: int,
) -> tuple[tuple[str, ...], bool]:
    """The last lines that fit, and whether anything was dropped or cut.

    Keeps at most `max_lines` lines, cuts each to `max_line_chars` characters
    (its start, where the timestamp and the message are, ending in "…"), and
    drops the oldest lines until their lengths add up to `max_total_chars` at
    most. Redact first: a cut could split a secret from the key that marks it.
    """
    if max_lines < 0 or max_line_chars < 1 or max_total_chars < 0:
        raise ValueError(
            "cap_lines needs max_lines >= 0, max_line_chars >= 1, max_total_chars >= 0"
        )
    tail: deque[str] = deque(maxlen=max_lines)
    seen = 0
    for line in lines:
        tail.append(line)
        seen += 1
    truncated = seen > len(tail)
    kept: list[str] = []
    total = 0
    for line in reversed(tail):
        if len(line) > max_line_chars:
            line = line[: max_line_chars - 1] + TRUNCATED_MARK
            truncated = True
        if total + len(line) > max_total_chars:
            truncated = True
            break
        kept.append(line)
        total += len(line)
    kept.reverse()
    return tuple(kept), truncated
