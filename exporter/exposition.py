"""The /metrics text, rendered incrementally: only what changed is formatted again.

A full render of 200 containers is ~4,400 samples; with prometheus_client's
`generate_latest` that is tens of milliseconds of CPU, on every change. Here
each container's lines are formatted once and kept with the (immutable) cache
objects they came from: a container whose facts or events changed has its
lines re-formatted, a stats sample re-formats only its usage lines, and the
rest is string joining.

Nothing here names a metric: the lines are written from the family table
(exporter/families.py) with one formatter, and the `# HELP`/`# TYPE` headers
are taken from `generate_latest` itself. tests/exporter/test_exposition.py pins
the whole output byte for byte to `generate_latest` over the `ContainerCollector`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from exporter.cache import ContainerCache, Entry, SelfState, Usage
from exporter.families import CONTAINER_FAMILIES, Family, Sample, self_families
from exporter.operations import Operation
from fleet.facts import ContainerFacts

# The library's own number formatting (Go-style floats, +Inf, NaN); it has no type hints.
_go: Callable[[float], str] = floatToGoString
# Most values are small whole numbers (one-hot 0/1, exit codes, streaks, counts).
_SMALL_INTS = tuple(_go(i) for i in range(256))


def _number(value: float) -> str:
    if isinstance(value, int) and 0 <= value < 256:
        return _SMALL_INTS[value]
    return _go(value)


def _esc(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


# A labelled family's line tails, by the samples they were written from (see _Format).
Kept = dict[tuple[Sample, ...], tuple[str, ...]]


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]


@dataclass(frozen=True, slots=True)
class _Format:
    """How one family's samples are written, labels sorted as generate_latest sorts them.

    When `container` sorts first (every family but docker_container_info), a line is
    `name{container="..."` and a tail that does not depend on the container, e.g.
    `,state="running"} 1.0\n`, so an entry's lines are one join of the tails; the
    tails of a labelled family's samples repeat (one-hot options, event counts) and
    are kept by the renderer, in `kept`. Otherwise a str.format template puts the
    label values in sorted-name order.
    """

    family: Family
    header: str  # `# HELP` and `# TYPE`, exactly as generate_latest writes them
    start: str  # `name{container="` (when container sorts first)
    container_first: bool
    template: str  # {0} the container, {1}… the other label values, then the value

    @classmethod
    def of(cls, family: Family) -> _Format:
        names = ("container", *family.labels)
        order = sorted(range(len(names)), key=names.__getitem__)
        labels = ",".join(f'{names[i]}="{{{i}}}"' for i in order)
        return cls(
            family,
            generate_latest(_One(family.metric())).decode(),
            f'{family.name}{{container="',
            order[0] == 0,
            f"{family.name}{{{{{labels}}}}} {{{len(names)}}}\n",
        )

    def lines(self, container: str, entry: Entry, kept: Kept) -> str:
        """This family's lines for one entry; `container` is the escaped name."""
        family = self.family
        if family.value is not None:  # one sample, no labels of its own
            found = family.value(entry)
            if found is None:
                return ""
            return f'{self.start}{container}"}} {_number(found)}\n'
        samples = family.read(entry)
        if not samples:
            return ""
        if not self.container_first:
            return "".join(
                [
                    self.template.format(container, *map(_esc, values), _number(value))
                    for values, value in samples
                ]
            )
        start = f'{self.start}{container}"'
        return start + start.join(kept.get(samples) or self._keep(samples, kept))

    def _keep(self, samples: tuple[Sample, ...], kept: Kept) -> tuple[str, ...]:
        names = self.family.labels
        tails = tuple(
            "".join([f',{n}="{_esc(v)}"' for n, v in zip(names, values, strict=True)])
            + f"}} {_number(value)}\n"
            for values, value in samples
        )
        if len(kept) < _MAX_KEPT:  # a few dozen in practice; bounded all the same
            kept[samples] = tails
        return tails


_MAX_KEPT = 1024
FORMATS = tuple(_Format.of(family) for family in CONTAINER_FAMILIES)
# Positions in FORMATS of the families a stats sample changes, and of all the others.
USAGE_FAMILIES = tuple(i for i, f in enumerate(CONTAINER_FAMILIES) if f.source == "usage")
STATIC_FAMILIES = tuple(i for i, f in enumerate(CONTAINER_FAMILIES) if f.source == "facts")

_Formats = tuple[tuple[_Format, Kept], ...]


def _lines_of(formats: _Formats, entry: Entry) -> tuple[str, ...]:
    container = _esc(entry.facts.name)
    return tuple([fmt.lines(container, entry, kept) for fmt, kept in formats])


# Tuples rather than frozen dataclasses: one is made per changed container per render.
class _Static(NamedTuple):
    """A container's lines for the families that change only with its facts or events."""

    facts: ContainerFacts
    events: tuple[tuple[str, int], ...]
    critical: bool
    managed_value: str
    operation: Operation
    lines: tuple[str, ...]  # indexed like STATIC_FAMILIES

    def current(self, entry: Entry) -> bool:
        return (
            self.facts is entry.facts
            and self.events is entry.events
            and self.critical == entry.critical
            and self.managed_value == entry.managed_value
            and self.operation == entry.operation
        )


class _Usage(NamedTuple):
    usage: Usage
    name: str  # a rename keeps the sample but changes its lines
    lines: tuple[str, ...]  # indexed like USAGE_FAMILIES


class IncrementalRenderer:
    """Renders the cache; not thread-safe on its own (the server serialises calls)."""

    def __init__(self, cache: ContainerCache) -> None:
        self._cache = cache
        self._static: dict[str, _Static] = {}
        self._usage: dict[str, _Usage] = {}
        kept: list[Kept] = [{} for _ in FORMATS]
        self._static_formats = tuple((FORMATS[i], kept[i]) for i in STATIC_FAMILIES)
        self._usage_formats = tuple((FORMATS[i], kept[i]) for i in USAGE_FAMILIES)

    def render(self) -> bytes:
        _, entries, state = self._cache.snapshot()
        per_family: list[list[str]] = [[] for _ in FORMATS]
        static: dict[str, _Static] = {}
        usage: dict[str, _Usage] = {}
        for entry in entries:
            cid = entry.facts.id
            kept = self._static.get(cid)
            if kept is None or not kept.current(entry):
                kept = _Static(
                    entry.facts,
                    entry.events,
                    entry.critical,
                    entry.managed_value,
                    entry.operation,
                    _lines_of(self._static_formats, entry),
                )
            static[cid] = kept
            for family, text in zip(STATIC_FAMILIES, kept.lines, strict=True):
                per_family[family].append(text)
            if entry.usage is not None:
                sample = self._usage.get(cid)
                if (
                    sample is None
                    or sample.usage is not entry.usage
                    or sample.name != entry.facts.name
                ):
                    sample = _Usage(
                        entry.usage, entry.facts.name, _lines_of(self._usage_formats, entry)
                    )
                usage[cid] = sample
                for family, text in zip(USAGE_FAMILIES, sample.lines, strict=True):
                    per_family[family].append(text)
        # Replacing the dicts drops what vanished, so they never grow past the fleet.
        self._static, self._usage = static, usage
        body = "".join(
            fmt.header + "".join(lines) for fmt, lines in zip(FORMATS, per_family, strict=True)
        )
        return body.encode() + _self_text(state, len(entries))


def _self_text(state: SelfState, managed: int) -> bytes:
    return b"".join(generate_latest(_One(family)) for family in self_families(state, managed))
