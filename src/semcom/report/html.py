"""A self-contained HTML report: sections of text, tables and PNG figures (embedded as base64)."""

from __future__ import annotations

import base64
import html
from pathlib import Path


class HtmlReport:
    """Collects sections and writes one standalone HTML file (no external assets)."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def raw(self, fragment: str) -> None:
        self.parts.append(fragment)

    def image(self, path: str | Path, caption: str = "") -> None:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" style="max-width:100%">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: list[str], rows: list[list]) -> None:
        def cell(v):
            if isinstance(v, float):
                return f"{v:.3f}"
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #bbb;padding:2px 6px}"
            "figure{margin:1em 0}figcaption{font-size:0.85em;color:#444}"
        )
        doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
               f"<style>{style}</style></head><body><h1>{html.escape(self.title)}</h1>"
               + "\n".join(self.parts) + "</body></html>\n")
        path.write_text(doc)
        return path
