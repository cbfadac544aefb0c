"""One self-contained HTML page: sections, tables and figures embedded as PNG ``data:`` URIs.

Nothing on the page is fetched: no script, no external style sheet, font or image, and a
Content-Security-Policy that forbids loading anything but the page's own ``data:`` images,
so the report opens offline, from an e-mail attachment as well as from disk. Every string
that comes from a table, a file name or the user is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser.common.errors import DataError, OutputError
from ser.common.ownedfiles import check_writable_folder

__all__ = ["REPORT_SUFFIXES", "Page", "check_report_path", "figure_data_uri", "write_page"]

#: File name endings of a report.
REPORT_SUFFIXES: tuple[str, ...] = (".html", ".htm")

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0 auto;max-width:1180px;padding:1.5em 2em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.sub{color:#555;margin-top:0}.note{color:#555;font-size:.93em}
.warn{background:#fff4e5;border-left:4px solid #E69F00;padding:.4em .8em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.92em}
th,td{border-bottom:1px solid #e3e3e3;padding:.25em .7em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0 1.6em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,caption{color:#555;font-size:.9em;margin-top:.3em}caption{text-align:left}
nav ul{columns:2;padding-left:1.2em}.kpi{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.kpi div{background:#f5f5f5;border-radius:6px;padding:.5em 1em;min-width:7em}
.kpi b{display:block;font-size:1.5em}code{background:#f3f3f3;padding:0 .25em}
"""


def esc(value: object) -> str:
    """``value`` as text, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def figure_data_uri(fig: Any, *, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (rendered with Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attaches itself to the figure; no pyplot, no global backend
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class _Section:
    id: str
    title: str
    parts: list[str] = field(default_factory=list)


class Page:
    """An HTML report assembled section by section, rendered by :meth:`render`.

    Parameters
    ----------
    title : str
        The page's title and heading.
    subtitle : str, optional
        A line under the heading.
    """

    def __init__(self, title: str, *, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[_Section] = []
        self.figure_ids: list[str] = []

    def section(self, id: str, title: str) -> Page:
        """Start a section (listed in the page's contents); what follows goes into it."""
        self.sections.append(_Section(id, title))
        return self

    def _add(self, markup: str) -> None:
        if not self.sections:
            self.section("summary", "Summary")
        self.sections[-1].parts.append(markup)

    def text(self, text: str, *, kind: str | None = None) -> None:
        """A paragraph of plain text (escaped); ``kind`` "note" or "warn" styles it."""
        cls = f' class="{esc(kind)}"' if kind else ""
        self._add(f"<p{cls}>{esc(text)}</p>")

    def key_figures(self, items: Iterable[tuple[str, object]]) -> None:
        """Headline numbers as tiles: (label, value)."""
        tiles = "".join(f"<div><b>{esc(v)}</b>{esc(k)}</div>" for k, v in items)
        self._add(f'<div class="kpi">{tiles}</div>')

    def table(
        self,
        header: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        caption: str | None = None,
        id: str | None = None,
    ) -> None:
        """A table; numbers are right-aligned, floats shown with 3 decimals."""
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = []
        for row in rows:
            cells = []
            for v in row:
                if isinstance(v, float):
                    cells.append(f'<td class="num">{"–" if v != v else f"{v:.3f}"}</td>')
                elif isinstance(v, int) and not isinstance(v, bool):
                    cells.append(f'<td class="num">{v}</td>')
                else:
                    cells.append(f"<td>{esc('' if v is None else v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        ident = f' id="{esc(id)}"' if id else ""
        self._add(
            f"<table{ident}>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    def figure(self, fig: Any, *, id: str, caption: str, alt: str | None = None) -> None:
        """Embed a matplotlib figure as a PNG ``data:`` URI, with its caption; closes nothing
        global (the figure is not pyplot's)."""
        uri = figure_data_uri(fig)
        self.figure_ids.append(id)
        self._add(
            f'<figure id="{esc(id)}"><img src="{uri}" alt="{esc(alt or caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )

    def render(self) -> str:
        """The whole page, as one string."""
        toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in self.sections)
        body = "".join(
            f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{"".join(s.parts)}</section>'
            for s in self.sections
        )
        sub = f'<p class="sub">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="ser">'
            f"<title>{esc(self.title)}</title><style>{_STYLE}</style></head>\n"
            f"<body><h1>{esc(self.title)}</h1>{sub}<nav><ul>{toc}</ul></nav>\n"
            f"{body}\n</body></html>\n"
        )


def check_report_path(
    path: str | os.PathLike[str], *, overwrite: bool = False, option: str = "--report"
) -> Path:
    """``path`` as a Path, if a report may be written there; else a one-line DataError.

    The name must end in ``.html`` (or ``.htm``), its folder must exist and be writable, and
    an existing file is replaced only with ``overwrite``. Commands call this before any work.
    """
    if not os.fspath(path):
        raise DataError(f"{option} needs a file name, such as report.html")
    p = Path(path)
    if p.suffix.lower() not in REPORT_SUFFIXES:
        raise DataError(f"{option} must end in .html, got {str(p)!r}")
    check_writable_folder(p, option=option, example="report.html")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise DataError(f"{str(p)!r} already exists; --overwrite replaces it")
    return p


def write_page(page: Page | str, out: str | os.PathLike[str]) -> Path:
    """Write the page to ``out`` atomically (a temporary file beside it, then renamed).

    Raises
    ------
    OutputError
        Naming the file and the reason, when it cannot be written; nothing is left behind.
    """
    path = Path(out)
    text = page.render() if isinstance(page, Page) else page
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{path}: cannot write the report: {reason}") from None
    return path
