"""The Markdown version of the report: the same sections, figures as PNG files beside it."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from hpsearch.report._content import Table
from hpsearch.report._html import Section

__all__ = ["render_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!])")


def md(text: object) -> str:
    """Inline Markdown text: HTML-escaped (renderers pass raw HTML through) and markup escaped."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def table_md(table: Table) -> str:
    """A pipe table with escaped cells."""
    header = [md(h) or " " for h in table.header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}toml\n{text.rstrip()}\n{fence}"


def render_markdown(title: str, sections: Sequence[Section], figure_dir: str) -> str:
    """The whole Markdown file; figures link to ``<figure_dir>/<name>.png``."""
    out = [f"# {md(title)}", ""]
    for section in sections:
        out += [f"## {md(section.title)}", ""]
        for kind, body in section.parts:
            if kind == "text":
                out.append(md(body))
            elif kind == "note":
                out.append(f"> {md(body)}")
            elif kind == "table":
                out.append(table_md(body))  # type: ignore[arg-type]
            elif kind == "pre":
                out.append(_fence(str(body)))
            else:
                name, fig_title, caption, _ = body  # type: ignore[misc]
                out += [f"### {md(fig_title)}", "",
                        f"![{md(fig_title)}]({figure_dir}/{name}.png)", "", md(caption)]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
