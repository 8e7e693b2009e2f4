"""The editor's note at the top of an edition: a few lines of Markdown, checked and rendered safely.

The note is the one piece of an edition an editor writes by hand, so it is held to rules a
reader's inbox can trust: at most `NOTE_MAX` characters, no raw HTML, no images, links only to
absolute http(s) URLs, and nothing that looks like template or placeholder syntax (`{{`, `{%`,
`{#`, `%%`), which a later rendering step could otherwise act on. `check_note` refuses a note
that breaks a rule, naming the line; `render_note` turns a checked note into HTML (markdown-it
with HTML off, escaping everything else) and into plain text for the text part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from digest.issues.render.placeholders import defuse

NOTE_MAX = 600
"""Characters of Markdown per language: two or three short paragraphs, not an essay."""

_TEMPLATE = re.compile(r"\{\{|\{%|\{#|%%")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_OFF = ("heading", "lheading", "code", "fence", "hr", "table", "image", "html_block", "html_inline")
"""Block and inline rules a short note does not need: their syntax stays literal text."""


class NoteError(ValueError):
    """The note breaks a rule; the message names the line and what to change."""


def _absolute_http(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _rendering_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(list(_OFF), ignoreInvalid=True)
    md.validateLink = _absolute_http  # type: ignore[method-assign]
    return md


def _checking_parser() -> MarkdownIt:
    """Everything on, every link accepted: so the check sees what the writer meant to do."""
    md = MarkdownIt("commonmark", {"html": True})
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


_RENDER = _rendering_parser()
_CHECK = _checking_parser()


def _line(source: str, snippet: str, first: int) -> int:
    """The 1-based line of `snippet` in `source`, searching from line `first` (0-based)."""
    lines = source.split("\n")
    for number in range(first, len(lines)):
        if snippet and snippet in lines[number]:
            return number + 1
    return first + 1


def normalize_note(text: str) -> str:
    """Line ends unified, control characters and surrounding blank space dropped."""
    return _CTRL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _inline_problem(source: str, token: Token) -> str | None:
    first = token.map[0] if token.map else 0
    for child in token.children or []:
        if child.type == "html_inline":
            line = _line(source, child.content, first)
            return (
                f"line {line}: raw HTML ({child.content!r}) is not allowed; write Markdown "
                "(*italic*, **bold**, [text](https://…))"
            )
        if child.type == "image":
            src = str(child.attrs.get("src", ""))
            return f"line {_line(source, src, first)}: images are not allowed in a note ({src})"
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            if not _absolute_http(href):
                return (
                    f"line {_line(source, href, first)}: link {href!r} is not an absolute "
                    "http(s) URL (write https://…)"
                )
    return None


def check_note(text: str) -> str:
    """The note as it will be stored (normalized), or NoteError naming what is wrong."""
    source = normalize_note(text)
    if len(source) > NOTE_MAX:
        raise NoteError(f"the note is {len(source)} characters; at most {NOTE_MAX} are allowed")
    found = _TEMPLATE.search(source)
    if found:
        line = source.count("\n", 0, found.start()) + 1
        raise NoteError(
            f"line {line}: {found.group()!r} looks like template syntax, which a note may not "
            "contain"
        )
    for token in _CHECK.parse(source):
        if token.type == "html_block":
            first = token.map[0] + 1 if token.map else 1
            snippet = token.content.strip().splitlines()[0] if token.content.strip() else ""
            raise NoteError(f"line {first}: raw HTML ({snippet!r}) is not allowed; write Markdown")
        if token.type == "inline":
            problem = _inline_problem(source, token)
            if problem:
                raise NoteError(problem)
    return source


@dataclass(frozen=True)
class RenderedNote:
    """A checked note in both forms an edition needs."""

    html: Markup
    text: str


def render_note(text: str) -> RenderedNote:
    """HTML (escaped, links only to absolute http(s) URLs) and plain text of a checked note.

    Raises NoteError for a note `check_note` would refuse, so nothing unchecked is rendered.
    """
    source = check_note(text)
    tokens = _RENDER.parse(source)
    html = _RENDER.renderer.render(tokens, _RENDER.options, {})
    # Markdown decodes `&#37;` and `\%`, so a checked note can still spell a placeholder
    # (`&#37;&#37;view_url_html&#37;&#37;`): defused here, it is never filled per recipient.
    return RenderedNote(Markup(defuse(html.strip())), defuse(_as_text(tokens)))


def _inline_text(token: Token) -> str:
    out: list[str] = []
    href = ""
    start = 0
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "link_open":
            href, start = str(child.attrs.get("href", "")), len(out)
        elif child.type == "link_close":
            label = "".join(out[start:])
            if href and label != href:
                out.append(f" ({href})")
    return "".join(out)


def _as_text(tokens: list[Token]) -> str:
    """Paragraphs apart by a blank line, list items as `- ` or `1. `, links as `text (url)`."""
    blocks: list[str] = []
    lists: list[tuple[bool, list[int]]] = []  # per open list: ordered?, [next number]
    prefix = ""
    in_list = False  # the last block is a list item: the next item joins it, no blank line
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            ordered = token.type == "ordered_list_open"
            lists.append((ordered, [int(token.attrs.get("start", 1) or 1)]))
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            in_list = bool(lists)
        elif token.type == "list_item_open" and lists:
            ordered, number = lists[-1]
            indent = "  " * (len(lists) - 1)
            prefix = f"{indent}{number[0]}. " if ordered else f"{indent}- "
            number[0] += 1
        elif token.type == "inline":
            quote = "> " if any(t == "blockquote" for t in _open_blocks(tokens, token)) else ""
            body = _inline_text(token)
            pad = " " * len(prefix)
            lines = body.split("\n")
            text = "\n".join(
                [quote + prefix + lines[0], *[quote + pad + line for line in lines[1:]]]
            )
            if prefix and in_list:
                blocks[-1] += "\n" + text
            else:
                blocks.append(text)
            in_list, prefix = bool(prefix), ""
    return "\n\n".join(blocks)


def _open_blocks(tokens: list[Token], target: Token) -> list[str]:
    """The block types open around `target` (to mark quoted lines)."""
    stack: list[str] = []
    for token in tokens:
        if token is target:
            return stack
        if token.nesting == 1:
            stack.append(token.type.removesuffix("_open"))
        elif token.nesting == -1 and stack:
            stack.pop()
    return stack
