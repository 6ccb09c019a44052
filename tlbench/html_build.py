"""The leaderboard page's markup (``tlbench.html_report``): an element builder that escapes by default.

Built with the standard library rather than a template engine: Jinja2 is not a dependency of
tlbench, and here escaping is the default rather than a setting: :func:`el` escapes every text child
and every attribute value (``html.escape``), only :class:`Safe` (markup this module made) passes as
it is, so no string from a suite, a record or a plugin reaches the page unescaped.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Safe", "best_of", "cell", "el", "esc", "figures_of", "fmt", "inline", "markdown", "table", "void"]


class Safe(str):
    """Markup made here, every text in it already escaped; any other ``str`` is text, escaped on use."""


def esc(value: object) -> Safe:
    return value if isinstance(value, Safe) else Safe(html.escape(str(value), quote=True))


def _children(items: Iterable[object]) -> Iterable[Safe]:
    for c in items:
        if c is None:
            continue
        if isinstance(c, list | tuple) or (not isinstance(c, str) and isinstance(c, Iterable)):
            yield from _children(c)
        else:
            yield esc(c)


def _attrs(attrs: dict[str, object]) -> str:
    out = ""
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")  # class_ -> class, data_sort -> data-sort
        out += f" {name}" if value is True else f' {name}="{html.escape(str(value), quote=True)}"'
    return out


def el(tag: str, *children: object, **attrs: object) -> Safe:
    """``<tag attrs>children</tag>``: text children and every attribute value escaped; ``Safe``
    children kept; None and False drop a child or an attribute."""
    return Safe(f"<{tag}{_attrs(attrs)}>{''.join(_children(children))}</{tag}>")


def void(tag: str, **attrs: object) -> Safe:
    return Safe(f"<{tag}{_attrs(attrs)}>")


def inline(text: str) -> Safe:
    """The report's inline markdown (``**bold**``, ``*em*``, `` `code` ``) on escaped text."""
    out = html.escape(text, quote=True)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    return Safe(re.sub(r"`([^`]+)`", r"<code>\1</code>", out))


def markdown(lines: list[str]) -> Safe:
    """The few block forms the report's shared sections use: ``##`` headings, paragraphs, ``- `` lists,
    pipe tables (sortable; keys from the cells' leading numbers). Images are left out: the page
    embeds the figures itself."""
    out: list[Safe] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+\s*", lines[i]):  # not the |---| line
                    block.append([c.strip() for c in lines[i].strip().strip("|").split(" | ")])
                i += 1
            out.append(table([inline(c) for c in block[0]], [[inline(c) for c in r] for r in block[1:]]))
            continue
        if line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(el("li", inline(lines[i][2:])))
                i += 1
            out.append(el("ul", items))
            continue
        heading = re.match(r"(#{2,4}) (.*)", line)
        if heading:
            out.append(el(f"h{len(heading.group(1))}", inline(heading.group(2))))
        elif line.strip() and not line.startswith("!["):
            out.append(el("p", inline(line)))
        i += 1
    return Safe("".join(out))


def _num(value: Any) -> str:
    """A ``data-sort`` key: the raw number, empty for none."""
    return repr(float(value)) if isinstance(value, int | float) and math.isfinite(value) else ""


def cell(content: object, sort: Any = None, best: bool = False) -> Safe:
    return el("td", content, data_sort=None if sort is None else _num(sort), class_="best" if best else None)


def table(head: list[str], rows: Sequence[Sequence[object]], sortable: bool = True) -> Safe:
    """A table in a horizontally scrolling box; header buttons sort it (``html_assets.JS``). A row's
    items are ``td`` markup from :func:`cell` or contents to wrap in one."""
    ths = [el("th", el("button", h, type="button") if sortable else h, scope="col") for h in head]
    body = [el("tr", [c if isinstance(c, Safe) and c.startswith("<td") else el("td", c) for c in r])
            for r in rows]
    return el("div", el("table", el("thead", el("tr", ths)), el("tbody", body),
                        class_="sortable" if sortable else None), class_="scroll")


def best_of(values: list[Any], higher: bool) -> set[int]:
    """Indices of the best finite value (bold in the page), when at least two are finite."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(finite) < 2:
        return set()
    top = max(finite) if higher else min(finite)
    return {i for i, v in enumerate(values) if v == top}


def fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"

def figures_of(paths: list[Path]) -> Safe:
    """Each plot as a data: URI (its bytes, so the page needs no file beside it)."""
    kinds = {".png": "image/png", ".svg": "image/svg+xml"}
    items = [el("figure", void("img", src=f"data:{kinds.get(p.suffix, 'image/png')};base64,"
                               + base64.b64encode(p.read_bytes()).decode("ascii"), alt=p.stem),
                el("figcaption", p.name)) for p in paths]
    return el("div", items, class_="figures") if items else Safe("")
