"""Markdown → Telegram HTML chunks (channels_app.connectors.telegram.format): pure, no network."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_app.connectors.base import OutgoingChunk
from channels_app.connectors.telegram.format import (
    MAX_MESSAGE_CHARS,
    render_markdown,
    utf16_len,
)

ALLOWED_TAGS = {"b", "i", "s", "code", "pre", "a", "blockquote"}


class _Checker(HTMLParser):
    """Telegram's HTML rules, as far as a chunk must keep them: known tags only, every
    tag closed in order, nothing left open; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, f"</{tag}> closes the wrong tag"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(chunk: OutgoingChunk) -> str:
    """The text Telegram shows for the chunk's HTML, after checking the HTML is sound."""
    checker = _Checker()
    checker.feed(chunk.text)
    checker.close()
    assert not checker.stack, f"left open: {checker.stack}"
    assert not re.search(r"&(?!(amp|lt|gt|quot|#x27);)", chunk.text), "a bare & in the HTML"
    return "".join(checker.text)


def one(markdown: str) -> OutgoingChunk:
    chunks = render_markdown(markdown)
    assert len(chunks) == 1, chunks
    assert chunks[0].parse_mode == "HTML"
    return chunks[0]


# --- formatting ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("markdown", "expected_html", "plain"),
    [
        ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>", "bold and bold"),
        ("*it* and _it_", "<i>it</i> and <i>it</i>", "it and it"),
        ("~~gone~~", "<s>gone</s>", "gone"),
        ("`a < b`", "<code>a &lt; b</code>", "a < b"),
        ("***both***", "<i><b>both</b></i>", "both"),
        ("# Title\nbody", "<b>Title</b>\n\nbody", "Title\n\nbody"),
        ("## **Bold** title", "<b>Bold title</b>", "Bold title"),
        ("> quoted\n> more", "<blockquote>quoted\nmore</blockquote>", "quoted\nmore"),
        ("- one\n- two", "• one\n• two", "• one\n• two"),
        ("1. one\n2. two", "1. one\n2. two", "1. one\n2. two"),
        ("3) three", "3) three", "3) three"),
        ("line one\nline two", "line one\nline two", "line one\nline two"),
        ("para one\n\npara two", "para one\n\npara two", "para one\n\npara two"),
        ("---", "———", "———"),
    ],
)
def test_markdown_becomes_telegram_html(markdown: str, expected_html: str, plain: str) -> None:
    chunk = one(markdown)
    assert (chunk.text, chunk.fallback) == (expected_html, plain)
    visible(chunk)


def test_links_keep_their_address_escaped_and_the_fallback_shows_it() -> None:
    chunk = one('see [the docs](https://x.org/a_b?q=1&r="2")')
    assert chunk.text == 'see <a href="https://x.org/a_b?q=1&amp;r=%222%22">the docs</a>'
    assert chunk.fallback == "see the docs (https://x.org/a_b?q=1&r=%222%22)"
    auto = one("<https://example.org>")
    assert auto.text == '<a href="https://example.org">https://example.org</a>'
    assert auto.fallback == "https://example.org"


@pytest.mark.parametrize(
    "markdown", ["[x](javascript:alert(1))", "[x](ftp://host/file)", "[x](relative/path)"]
)
def test_links_telegram_would_refuse_are_shown_as_text(markdown: str) -> None:
    chunk = one(markdown)
    assert "<a" not in chunk.text
    assert chunk.text.startswith("x") or chunk.text.startswith("[x]")


def test_fenced_code_keeps_its_language_and_its_text_verbatim() -> None:
    chunk = one("```python\nif a < b and c > d:\n    print('**no** & _no_')\n```")
    assert chunk.text == (
        '<pre><code class="language-python">if a &lt; b and c &gt; d:\n'
        "    print('**no** &amp; _no_')</code></pre>"
    )
    assert chunk.fallback == "if a < b and c > d:\n    print('**no** & _no_')"
    assert one("```\nplain\n```").text == "<pre>plain</pre>"
    hostile = one('```py"><script>\nx\n```').text
    assert hostile == '<pre><code class="language-pyscript">x</code></pre>'  # only [\w+#.-]


def test_everything_else_is_escaped_and_raw_html_is_text() -> None:
    chunk = one("1 < 2 & 3 > 2 <b>not bold</b> &amp;")
    assert chunk.text == "1 &lt; 2 &amp; 3 &gt; 2 &lt;b&gt;not bold&lt;/b&gt; &amp;"
    assert chunk.fallback == "1 < 2 & 3 > 2 <b>not bold</b> &"


def test_words_with_underscores_and_lone_stars_stay_as_written() -> None:
    chunk = one("call snake_case_name with x * y * z, 2 * 3")
    assert chunk.text == "call snake_case_name with x * y * z, 2 * 3"


def test_code_inside_bold_drops_the_bold_and_nested_quotes_flatten() -> None:
    chunk = one("**b `c` d**")
    assert chunk.text == "<b>b </b><code>c</code><b> d</b>"
    quote = one("> outer\n>> inner")
    assert quote.text == "<blockquote>outer\n\ninner</blockquote>"
    visible(quote)


@pytest.mark.parametrize(
    "markdown",
    ["> " * 500 + "deep words", "`" * 40 + " lonely fence", "```python\n```", "~~~~&"],
)
def test_markdown_that_would_lose_words_is_sent_as_written(markdown: str) -> None:
    (chunk,) = render_markdown(markdown)
    assert chunk.fallback == markdown
    assert chunk.text == html.escape(markdown, quote=False)


def test_blank_text_gives_no_chunk() -> None:
    assert render_markdown("") == []
    assert render_markdown("  \n\n ") == []


# --- chunking -----------------------------------------------------------------------
def check_chunks(chunks: list[OutgoingChunk], limit: int = MAX_MESSAGE_CHARS) -> None:
    for chunk in chunks:
        assert utf16_len(chunk.text) <= limit
        assert utf16_len(chunk.fallback) <= limit
        assert chunk.fallback.strip()
        visible(chunk)


def words(text: str) -> list[str]:
    return text.split()


def test_a_long_reply_splits_at_paragraphs_first() -> None:
    paragraphs = [f"Paragraph {n}: " + "word " * 150 for n in range(10)]  # ~770 chars each
    chunks = render_markdown("\n\n".join(paragraphs))
    check_chunks(chunks)
    assert len(chunks) == 2
    for chunk in chunks:  # every chunk ends at a paragraph's end
        assert chunk.fallback.rstrip().endswith("word")
        assert chunk.fallback.startswith("Paragraph")
    assert words(" ".join(c.fallback for c in chunks)) == words("\n\n".join(paragraphs))


def test_a_long_paragraph_splits_at_lines_then_words_then_anywhere() -> None:
    lines = "\n".join(f"line {n} " + "x" * 90 for n in range(100))
    chunks = render_markdown(lines)
    check_chunks(chunks)
    assert len(chunks) == 3
    assert all(c.fallback.startswith("line ") for c in chunks)

    prose = " ".join(["word"] * 3000)
    chunks = render_markdown(prose)
    check_chunks(chunks)
    assert all(c.fallback.startswith("word") and c.fallback.endswith("word") for c in chunks)
    assert words(" ".join(c.fallback for c in chunks)) == words(prose)

    blob = "x" * 10_000
    chunks = render_markdown(blob)
    check_chunks(chunks)
    assert [len(c.text) for c in chunks] == [4096, 4096, 1808]


def test_escaping_counts_against_the_limit() -> None:
    chunks = render_markdown("&" * 5000)
    check_chunks(chunks)
    assert "".join(c.fallback for c in chunks) == "&" * 5000
    assert len(chunks) == 7  # 4096 // len("&amp;") = 819 per chunk


def test_the_limit_counts_utf16_units() -> None:
    text = "😀" * 3000  # 2 UTF-16 units each
    chunks = render_markdown(text)
    check_chunks(chunks)
    assert [len(c.fallback) for c in chunks] == [2048, 952]


def test_a_code_block_split_across_chunks_is_closed_and_reopened() -> None:
    code = "\n".join(f"    value_{n} = compute({n}) & mask" for n in range(300))
    chunks = render_markdown(f"Here:\n\n```python\n{code}\n```\n\nDone.")
    check_chunks(chunks)
    assert len(chunks) >= 3
    for chunk in chunks[1:-1]:
        assert chunk.text.startswith('<pre><code class="language-python">')
        assert chunk.text.endswith("</code></pre>")
    # the code comes back whole, line by line, indentation kept
    body = "\n".join(c.fallback for c in chunks)
    assert [line for line in body.split("\n") if line.startswith("    ")] == code.split("\n")


def test_a_link_too_long_for_a_message_is_shown_as_text() -> None:
    href = "https://example.org/?q=" + "&" * 3000
    chunks = render_markdown(f"**see [the page]({href})**")
    check_chunks(chunks)
    assert "<a " not in "".join(c.text for c in chunks)
    assert chunks[0].fallback.startswith("see the page")
    assert "(https://example.org/?q=&&&" in "".join(c.fallback for c in chunks)


def test_bold_across_a_chunk_break_is_reopened() -> None:
    chunks = render_markdown("**" + "bold words " * 600 + "end**")
    check_chunks(chunks)
    assert len(chunks) == 2
    assert all(c.text.startswith("<b>") and c.text.endswith("</b>") for c in chunks)


_MARKDOWN_BITS = st.sampled_from(
    ["**", "*", "_", "`", "```\n", "~~", "> ", "- ", "1. ", "# ", "\n", "\n\n", " ", "&", "<",
     ">", '"', "[l](https://x.y/?a=1&b=2)", "<https://q.r>", "word", "😀", "é", "\\*"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_MARKDOWN_BITS, max_size=120), st.integers(min_value=160, max_value=400))
def test_any_markdown_gives_sound_chunks_within_the_limit(bits: list[str], limit: int) -> None:
    text = "".join(bits)
    chunks = render_markdown(text, limit=limit)
    check_chunks(chunks, limit)
    if text.strip():
        assert chunks  # something is always sent
