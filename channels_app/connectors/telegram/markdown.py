"""Markdown as LLMs write it → styled text runs for Telegram HTML (``format`` chunks them).

Parsed with markdown-it-py (CommonMark, plus ``~~strike~~``; raw HTML off, so a ``<b>``
in a reply is shown as written): a real parser gets nesting, code spans, snake_case
words and escapes right where regex converters produce mis-nested tags (which Telegram
refuses) or underline ``__init__``-style names.

What becomes what: **bold** → ``<b>``, *italic*/_italic_ → ``<i>``, ~~strike~~ → ``<s>``,
`code` → ``<code>``, fenced code → ``<pre><code class="language-x">``, links →
``<a href>`` (http, https, tg and mailto only; any other is shown as "text (url)"),
headings → bold lines, ``>`` quotes → ``<blockquote>`` (one level: Telegram does not nest
them), lists and rules stay text. Telegram allows no formatting inside code, so code
drops the bold, italic and strike around it (code inside a link stays plain link text).
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_HREF = 2048  # escaped; longer links are shown as text: a chunk must fit one character
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")
_LANGUAGE = re.compile(r"[^\w+#.-]")
_MD = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


@dataclass(frozen=True)
class Style:
    """One tag around text. ``key`` is unique per occurrence, so two adjacent links or
    quotes stay two; ``plain_close`` is what the plain fallback shows at the end (a
    link's " (url)"); ``source`` is the text of the Markdown the tag stands for (a link's
    address, a code block's language), which the tag keeps though no run shows it."""

    key: int
    name: str
    open_html: str
    close_html: str
    plain_close: str = ""
    source: str = ""


@dataclass(frozen=True)
class Run:
    text: str
    styles: tuple[Style, ...] = ()


def markdown_runs(text: str) -> list[Run]:
    """The text as runs of equally styled text, in order."""
    walker = _Walker()
    walker.blocks(_MD.parse(text))
    return walker.runs


class _Walker:
    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.keys = itertools.count(1)
        self.quote: list[Style | None] = []  # one entry per open blockquote
        self.lists: list[bool] = []  # per open list: is it ordered
        self.heading = False
        self.stack: list[Style | None] = []
        self.tails: list[str] = []  # per open link: what its end shows (" (url)" or "")
        self.prefix = ""  # a list item's marker, shown before its first text
        self.sep = ""  # the line break(s) owed before the next text

    def style(
        self,
        name: str,
        open_html: str = "",
        close_html: str = "",
        plain: str = "",
        source: str = "",
    ) -> Style:
        open_html, close_html = open_html or f"<{name}>", close_html or f"</{name}>"
        return Style(next(self.keys), name, open_html, close_html, plain, source)

    def block_styles(self) -> tuple[Style, ...]:
        return tuple(s for s in self.quote if s is not None)

    def owe(self, sep: str) -> None:
        if len(sep) > len(self.sep):
            self.sep = sep

    def emit(self, text: str, styles: tuple[Style, ...]) -> None:
        if not text:
            return
        if self.sep and self.runs:
            before = self.runs[-1].styles
            same = 0
            while same < min(len(before), len(styles)) and before[same] == styles[same]:
                same += 1
            self.runs.append(Run(self.sep, styles[:same]))
        self.sep = ""
        if self.prefix:
            self.runs.append(Run(self.prefix, self.block_styles()))
            self.prefix = ""
        self.runs.append(Run(text, styles))

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            handler = self._BLOCK.get(token.type)
            if handler is not None:
                handler(self, token)

    def _inline_block(self, token: Token) -> None:
        base = self.block_styles()
        if self.heading:
            base = (*base, self.style("b"))
        self.stack = list(base)
        self.tails = []
        for child in token.children or []:
            handler = self._INLINE.get(child.type)
            if handler is not None:
                handler(self, child)
            elif child.content:
                self.emit(child.content, self.styles())

    def _heading(self, token: Token) -> None:
        self.heading = token.nesting > 0
        if not self.heading:
            self.owe("\n\n")

    def _paragraph_close(self, token: Token) -> None:
        self.owe("\n" if token.hidden else "\n\n")

    def _blockquote(self, token: Token) -> None:
        if token.nesting > 0:
            self.quote.append(None if self.block_styles() else self.style("blockquote"))
        else:
            self.quote.pop()
            self.owe("\n\n")

    def _list(self, token: Token) -> None:
        if token.nesting > 0:
            self.lists.append(token.type == "ordered_list_open")
        else:
            self.lists.pop()
            self.owe("\n" if self.lists else "\n\n")

    def _list_item(self, token: Token) -> None:
        self.owe("\n")
        indent = "   " * (len(self.lists) - 1)
        ordered = self.lists[-1]
        self.prefix = f"{indent}{token.info}{token.markup} " if ordered else f"{indent}• "

    def _code_block(self, token: Token) -> None:
        words = token.info.split()
        language = _LANGUAGE.sub("", words[0] if words else "")[:32]
        if language:
            pre = self.style(
                "pre", f'<pre><code class="language-{language}">', "</code></pre>", "", token.info
            )
        else:
            pre = self.style("pre", source=token.info)
        self.emit(token.content.rstrip("\n"), (*self.block_styles(), pre))
        self.owe("\n\n")

    def _rule(self, token: Token) -> None:
        self.emit("———", self.block_styles())
        self.owe("\n\n")

    _BLOCK: ClassVar[dict[str, Callable[[_Walker, Token], None]]] = {
        "inline": _inline_block,
        "heading_open": _heading,
        "heading_close": _heading,
        "paragraph_close": _paragraph_close,
        "blockquote_open": _blockquote,
        "blockquote_close": _blockquote,
        "bullet_list_open": _list,
        "ordered_list_open": _list,
        "bullet_list_close": _list,
        "ordered_list_close": _list,
        "list_item_open": _list_item,
        "fence": _code_block,
        "code_block": _code_block,
        "hr": _rule,
    }

    # --- inline: self.stack holds the open styles (None: one not shown) ---------------
    def styles(self) -> tuple[Style, ...]:
        return tuple(s for s in self.stack if s is not None)

    def in_link(self) -> bool:
        return any(s.name == "a" for s in self.styles())

    def push(self, name: str, open_html: str = "", plain: str = "", source: str = "") -> None:
        if any(s is not None and s.name == name for s in self.stack):
            self.stack.append(None)  # already bold (a heading's **word**): no nested <b>
        else:
            self.stack.append(self.style(name, open_html, "", plain, source))

    def _text(self, token: Token) -> None:
        self.emit(token.content, self.styles())

    def _break(self, token: Token) -> None:
        self.emit("\n", self.styles())

    def _code(self, token: Token) -> None:
        if self.in_link():  # a link cannot hold code: keep the link
            self.emit(token.content, self.styles())
        else:  # and code holds no bold or italic: keep the code
            self.emit(token.content, (*self.block_styles(), self.style("code")))

    def _open(self, token: Token) -> None:
        self.push({"strong_open": "b", "em_open": "i", "s_open": "s"}[token.type])

    def _close(self, token: Token) -> None:
        if self.stack:
            self.stack.pop()
        if token.type == "link_close" and self.tails:
            self.emit(self.tails.pop(), self.styles())

    def _link(self, token: Token) -> None:
        href = str(token.attrGet("href") or "")
        if _safe(href) and not self.in_link():
            plain = "" if token.markup in {"autolink", "linkify"} else f" ({href})"
            self.push("a", f'<a href="{html.escape(href, quote=True)}">', plain, href)
            self.tails.append("")
        else:  # shown as text, the address after it
            self.stack.append(None)
            self.tails.append(f" ({href})" if href else "")

    def _image(self, token: Token) -> None:
        src = str(token.attrGet("src") or "")
        label = token.content or src
        if _safe(src) and not self.in_link():
            plain = "" if label == src else f" ({src})"
            link = self.style("a", f'<a href="{html.escape(src, quote=True)}">', "", plain, src)
            self.emit(label, (*self.styles(), link))
        else:
            self.emit(f"{label} ({src})" if src and label != src else label, self.styles())

    _INLINE: ClassVar[dict[str, Callable[[_Walker, Token], None]]] = {
        "text": _text,
        "html_inline": _text,
        "softbreak": _break,
        "hardbreak": _break,
        "code_inline": _code,
        "strong_open": _open,
        "em_open": _open,
        "s_open": _open,
        "strong_close": _close,
        "em_close": _close,
        "s_close": _close,
        "link_close": _close,
        "link_open": _link,
        "image": _image,
    }


def _safe(href: str) -> bool:
    return href.lower().startswith(_SAFE_SCHEMES) and len(html.escape(href)) <= MAX_HREF
