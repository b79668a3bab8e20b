"""The report's one rounding rule and a tiny document model rendered as Markdown and as HTML."""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

DIGITS = 3                      # every metric in the report is rounded to this many decimals


def fmt(value, digits: int = DIGITS) -> str:
    """The report's one rounding rule; missing values print as n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def fmt_interval(value, interval) -> str:
    if interval is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(interval[0])}, {fmt(interval[1])}]"


def fmt_mean_std(mean, std, digits: int = DIGITS) -> str:
    return f"{fmt(mean, digits)} ± {fmt(0.0 if _missing(std) else std, digits)}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------- a tiny document model

@dataclass
class Document:
    """Blocks rendered twice: as Markdown and as a self-contained HTML page (no extra dependency)."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", header, [[str(c) for c in row] for row in rows]))

    def image(self, path: str, alt: str) -> None:
        self.blocks.append(("img", path, alt))

    def beside(self, inner: "Document", path: str, alt: str) -> None:
        """``inner``'s blocks with an image beside them in HTML (below them in Markdown)."""
        self.blocks.append(("beside", inner.blocks, path, alt))

    def details(self, summary: str, inner: "Document") -> None:
        """A section folded away in HTML (``<details>``); a level-2 heading in Markdown."""
        self.blocks.append(("details", summary, inner.blocks))

    def to_markdown(self) -> str:
        return "\n".join([f"# {self.title}", ""] + _markdown(self.blocks))

    def to_html(self) -> str:
        body = [f"<h1>{_inline_html(self.title)}</h1>"] + _html(self.blocks)
        style = ("body{font-family:sans-serif;max-width:80em;margin:2em auto;line-height:1.4}"
                 "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.2em .5em}"
                 "th{background:#eee}td{white-space:nowrap}img{max-width:100%}code{background:#f4f4f4}"
                 ".beside{display:flex;gap:1.5em;align-items:flex-start}.beside>div{flex:1 1 0}"
                 ".beside>figure{flex:1.4 1 0;margin:1em 0 0}summary{font-size:1.3em;font-weight:bold;cursor:pointer}")
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _markdown(blocks: list[tuple]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            cells = lambda row: "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"  # noqa: E731
            out += [cells(block[1]), "|" + "---|" * len(block[1])] + [cells(r) for r in block[2]] + [""]
        elif kind == "img":
            out += [f"![{block[2]}]({block[1]})", ""]
        elif kind == "beside":
            out += _markdown(block[1]) + [f"![{block[3]}]({block[2]})", ""]
        elif kind == "details":
            out += [f"## {block[1]}", ""] + _markdown(block[2])
    return out


def _html(blocks: list[tuple]) -> list[str]:
    body = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_inline_html(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(f'<p><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}"></p>')
        elif kind == "beside":
            body.append('<div class="beside"><div>' + "\n".join(_html(block[1])) + "</div>"
                        f'<figure><img src="{html.escape(block[2])}" alt="{html.escape(block[3])}"></figure></div>')
        elif kind == "details":
            body.append(f"<details><summary>{_inline_html(block[1])}</summary>\n" + "\n".join(_html(block[2]))
                        + "</details>")
    return body


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![*\w])\*([^*\s][^*]*?)\*(?![*\w])", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
