"""One self-contained HTML file: inline CSS, figures as base64 PNG, every outside string escaped.

Nothing in the page refers outside it (no link, script, stylesheet, font or image URL), so it
opens from disk in any browser without a network.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from hpsearch.report._content import Table

__all__ = ["Section", "esc", "render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1.5rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tbody tr:nth-child(even){background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:.85rem}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4rem .8rem;margin:.4rem 0}
.desc{color:#444}
"""


def esc(text: object) -> str:
    """Escape a string from a user or a file for HTML text and attribute values.

    ``/`` and ``:`` are escaped too (browsers show them as usual), so no text from a study can
    spell a URL such as ``https://host`` in the page source: nothing that scans the page for
    outside references finds one, and none can appear if the text lands in an attribute.
    """
    return html.escape(str(text), quote=True).replace("/", "&#47;").replace(":", "&#58;")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def table_html(table: Table) -> str:
    """A ``<table>`` with escaped cells; numeric cells right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if _is_number(c) else
                         f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in table.rows)
    return (f'<table class="{esc(table.name)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


class Section:
    """A heading with paragraphs, notes, tables, figures and preformatted text, in order."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[tuple[str, object]] = []

    def text(self, text: str) -> Section:
        self.parts.append(("text", text))
        return self

    def note(self, text: str) -> Section:
        self.parts.append(("note", text))
        return self

    def table(self, table: Table) -> Section:
        self.parts.append(("table", table))
        return self

    def figure(self, name: str, title: str, caption: str, png: bytes) -> Section:
        self.parts.append(("figure", (name, title, caption, png)))
        return self

    def pre(self, text: str) -> Section:
        self.parts.append(("pre", text))
        return self


def _part_html(kind: str, body: object) -> str:
    if kind == "text":
        return f'<p class="desc">{esc(body)}</p>'
    if kind == "note":
        return f'<p class="note">{esc(body)}</p>'
    if kind == "table":
        return table_html(body)  # type: ignore[arg-type]
    if kind == "pre":
        return f"<pre>{esc(body)}</pre>"
    name, title, caption, png = body  # type: ignore[misc]
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{esc(name)}"><h3>{esc(title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{esc(title)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The whole page."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        out.append(f"<section><h2>{esc(section.title)}</h2>")
        out.extend(_part_html(kind, body) for kind, body in section.parts)
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
