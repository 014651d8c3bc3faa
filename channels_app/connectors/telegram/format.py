"""A reply's Markdown as Telegram HTML messages of at most 4096 characters each.

Telegram counts a message's length after parsing its entities; each chunk here keeps
both its HTML and its plain fallback within the limit, counted in UTF-16 code units (what
Telegram's offsets count; never fewer than characters), so either may be sent as it is.

A chunk ends at the last paragraph break in its second half, else the last line break,
else the last space, else anywhere in it that is a break, else at the limit (a long
unbroken word). Cuts fall between characters of the text, so never inside a tag or an
``&amp;``; a style open at a cut (a ``<pre>``, a bold span) is closed at the end of the
chunk and opened again at the start of the next.
"""

from __future__ import annotations

import bisect
import html
import itertools
import logging

from channels_app.connectors.base import OutgoingChunk
from channels_app.connectors.telegram.markdown import Run, Style, markdown_runs

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
# Markup (a fence's language, ``&nbsp;``) may take a few letters; more is a loss.
KEEP_AT_LEAST = 0.9
PARSE_MODE = "HTML"
_BREAKS = ("\n\n", "\n", " ")


def utf16_len(text: str) -> int:
    """Telegram's length of ``text``: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def render_markdown(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> list[OutgoingChunk]:
    """``text`` (Markdown) as Telegram HTML chunks with plain fallbacks; ``[]`` when blank.

    Markdown only ever takes markup away; if the letters and digits of the text did not
    come through (nesting past the parser's limit, a stray fence swallowing the rest),
    the text is sent as written, escaped, rather than partly lost.
    """
    if not text.strip():
        return []
    runs = markdown_runs(text)
    shown = any(run.text.strip() for run in runs)
    if not shown or _kept(runs) < KEEP_AT_LEAST * _alnum(html.unescape(text)):
        logger.info("telegram: Markdown lost part of a reply; sending it as written")
        runs = [Run(text)]
    return chunk_runs(runs, limit=limit)


def _alnum(text: str) -> int:
    return sum(c.isalnum() for c in text)


def _kept(runs: list[Run]) -> int:
    """Letters and digits the rendering keeps: shown, or held by a tag (a link's address)."""
    held = {style.key: style.source for run in runs for style in run.styles}
    return sum(_alnum(run.text) for run in runs) + sum(_alnum(t) for t in held.values())


def chunk_runs(runs: list[Run], *, limit: int = MAX_MESSAGE_CHARS) -> list[OutgoingChunk]:
    """Styled runs as chunks whose HTML and plain text each fit in ``limit`` (which must
    hold one character with its tags: 4096 does, as ``markdown.MAX_HREF`` bounds a link)."""
    doc = _Document(runs)
    size = len(doc.text)
    chunks: list[OutgoingChunk] = []
    start = 0
    while start < size:
        end = doc.longest_fit(start, limit)
        cut, resume = (size, size) if end == size else doc.break_before(start, end)
        text, fallback = doc.render(start, cut)
        if fallback.strip():
            chunks.append(OutgoingChunk(text=text, fallback=fallback, parse_mode=PARSE_MODE))
        start = resume
    return chunks


class _Document:
    def __init__(self, runs: list[Run]) -> None:
        self.runs = [run for run in runs if run.text]
        self.text = "".join(run.text for run in self.runs)
        self.starts = [0, *itertools.accumulate(len(run.text) for run in self.runs)][:-1]

    def render(self, start: int, end: int) -> tuple[str, str]:
        """HTML and plain text of ``text[start:end]``, every tag closed."""
        markup: list[str] = []
        plain: list[str] = []
        opened: tuple[Style, ...] = ()
        index = max(0, bisect.bisect_right(self.starts, start) - 1)
        while index < len(self.runs) and self.starts[index] < end:
            run, offset = self.runs[index], self.starts[index]
            piece = run.text[max(0, start - offset) : end - offset]
            index += 1
            if not piece:
                continue
            same = _common(opened, run.styles)
            for style in reversed(opened[same:]):
                markup.append(style.close_html)
                plain.append(style.plain_close)
            markup.extend(style.open_html for style in run.styles[same:])
            opened = run.styles
            markup.append(html.escape(piece, quote=False))
            plain.append(piece)
        for style in reversed(opened):
            markup.append(style.close_html)
            plain.append(style.plain_close)
        return "".join(markup), "".join(plain)

    def cost(self, start: int, end: int) -> int:
        markup, plain = self.render(start, end)
        return max(utf16_len(markup), utf16_len(plain))

    def longest_fit(self, start: int, limit: int) -> int:
        """The furthest end whose chunk fits (at least one character: a lone character
        always fits, as links over ``MAX_HREF`` are shown as text)."""
        high = min(len(self.text), start + limit)  # a character costs at least 1
        if self.cost(start, high) <= limit:
            return high
        low = start + 1  # fits (or is the least there is); high does not
        while high - low > 1:
            middle = (low + high) // 2
            if self.cost(start, middle) <= limit:
                low = middle
            else:
                high = middle
        return low

    def break_before(self, start: int, end: int) -> tuple[int, int]:
        """Where to end a chunk that cannot reach past ``end``, and where the next one
        starts (after the break, which is dropped; a space inside code is kept)."""
        half = start + (end - start) // 2
        for floor in (half, start + 1):
            for mark in _BREAKS:
                at = self.text.rfind(mark, floor, end)
                if at > start:
                    if mark == " " and self.in_code(at):
                        return at + 1, at + 1
                    return at, at + len(mark)
        return end, end

    def in_code(self, position: int) -> bool:
        index = bisect.bisect_right(self.starts, position) - 1
        return any(style.name in {"pre", "code"} for style in self.runs[index].styles)


def _common(left: tuple[Style, ...], right: tuple[Style, ...]) -> int:
    same = 0
    while same < min(len(left), len(right)) and left[same] == right[same]:
        same += 1
    return same
