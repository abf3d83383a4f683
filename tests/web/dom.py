"""Reading a serialised DOM (Chromium's --dump-dom) the way a person reads the page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr", "col", "area", "base"}
_SPACE = re.compile(r"\s+")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    section: str  # id of the enclosing <section>, "" outside one


@dataclass
class Row:
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


@dataclass
class Page:
    elements: list[Element]
    text_by_section: dict[str, str]
    rows_by_section: dict[str, list[Row]]

    def text(self, section: str) -> str:
        return self.text_by_section.get(section, "")

    def rows(self, section: str) -> list[Row]:
        return self.rows_by_section.get(section, [])

    def row_for(self, section: str, needle: str) -> Row:
        found = [row for row in self.rows(section) if needle in row.text]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} rows mention {needle!r} in #{section}: {found}")
        return found[0]

    def tags(self, *names: str) -> list[Element]:
        return [e for e in self.elements if e.tag in names]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: dict[str, list[str]] = {}
        self.rows: dict[str, list[Row]] = {}
        self._stack: list[tuple[str, str]] = []  # (tag, section id)
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._skip = 0  # inside <style>/<title>/<head>: not page text

    @property
    def section(self) -> str:
        return self._stack[-1][1] if self._stack else ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        section = values.get("id", self.section) if tag == "section" else self.section
        self.elements.append(Element(tag, values, section))
        if tag in ("style", "head", "script"):
            self._skip += 1
        if tag == "tr":
            self._row = Row()
            self.rows.setdefault(section, []).append(self._row)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self._row is not None:
            self._row.links.append(values.get("href", ""))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        if tag not in _VOID:
            self._stack.append((tag, section))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "head", "script"):
            self._skip = max(self._skip - 1, 0)
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.cells.append(_SPACE.sub(" ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.texts.setdefault(self.section, []).append(data)
        if self._cell is not None:
            self._cell.append(data)


def read(dom: str) -> Page:
    reader = _Reader()
    reader.feed(dom)
    reader.close()
    text = {k: _SPACE.sub(" ", "".join(v)).strip() for k, v in reader.texts.items()}
    return Page(reader.elements, text, reader.rows)
