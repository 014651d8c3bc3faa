"""Telegram's HTML parse mode, as the Bot API server (TDLib's ``parse_html``) applies it.

``parse_html`` turns a message's HTML into the text Telegram shows and its entities
(offsets in UTF-16 code units), or raises ``MarkupError`` with Telegram's own wording
("Unsupported start tag "x" at byte offset N", "Can't find end tag corresponding to start
tag "b""...). The rules, from TDLib's test cases:

- tags: b strong i em u ins s strike del span (class="tg-spoiler" only) tg-spoiler a code
  pre blockquote tg-emoji; names are case-insensitive; any nesting is allowed;
- ``</>`` closes the innermost tag; an end tag must match the innermost open one;
- attributes are ``name``, ``name=value`` (letters, digits, ``.`` and ``-``) or quoted;
- entities: ``&lt; &gt; &amp; &quot;`` and numeric ones, the ``;`` optional; any other
  ``&...`` stays as it is written; a bare ``>`` is text.

Telegram then trims surrounding whitespace (``trim_text``) before it checks the length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUPPORTED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
     "a", "code", "pre", "blockquote", "tg-emoji"}
)  # fmt: skip
ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
SPACES = frozenset(" \t\r\n\f\v\0")
SURROGATES = (
    "Text contains invalid Unicode characters after decoding HTML entities, check for "
    "unmatched surrogate code units"
)


class MarkupError(ValueError):
    """The HTML does not parse; the message is Telegram's (after "can't parse entities: ")."""


def utf16_len(text: str) -> int:
    """Telegram's unit for entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    start: int  # UTF-16 offset in the output
    chars: int  # the same offset in code points
    attrs: dict[str, str] = field(default_factory=dict)


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.n = len(source)
        self.i = 0
        self.out: list[str] = []
        self.pos = 0  # UTF-16 length of the output so far
        self.chars = 0  # its length in code points
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.pos += utf16_len(text)
        self.chars += len(text)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        while self.i < self.n:
            char = self.src[self.i]
            if char == "&":
                decoded = decode_entity(self.src, self.i)
                if decoded is None:
                    self.emit("&")
                    self.i += 1
                else:
                    self.emit(decoded[0])
                    self.i = decoded[1]
            elif char != "<":
                start = self.i
                while self.i < self.n and self.src[self.i] not in "&<":
                    self.i += 1
                self.emit(self.src[start : self.i])
            elif self.i + 1 < self.n and self.src[self.i + 1] == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.stack:
            raise MarkupError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def skip_spaces(self) -> None:
        while self.i < self.n and self.src[self.i] in SPACES:
            self.i += 1

    def start_tag(self) -> None:
        begin = self.i
        self.i += 1
        while self.i < self.n and self.src[self.i] not in SPACES and self.src[self.i] != ">":
            self.i += 1
        if self.i >= self.n:
            raise MarkupError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag = self.src[begin + 1 : self.i].lower()
        if tag not in SUPPORTED_TAGS:
            raise MarkupError(
                f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}'
            )
        attrs = self.attributes(tag, begin)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise MarkupError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise MarkupError("Invalid custom emoji identifier specified")
        self.stack.append(_Open(tag, self.pos, self.chars, attrs))

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        attrs: dict[str, str] = {}
        unclosed = f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}'
        while True:
            self.skip_spaces()
            if self.i >= self.n:
                raise MarkupError(unclosed)
            if self.src[self.i] == ">":
                self.i += 1
                return attrs
            name_start = self.i
            while (
                self.i < self.n and self.src[self.i] not in SPACES and self.src[self.i] not in "=>"
            ):
                self.i += 1
            name = self.src[name_start : self.i].lower()
            if not name:
                at = self.byte_offset(begin)
                raise MarkupError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
            self.skip_spaces()
            if self.i >= self.n:
                raise MarkupError(unclosed)
            if self.src[self.i] != "=":
                attrs.setdefault(name, "")
                continue
            self.i += 1
            self.skip_spaces()
            if self.i >= self.n:
                raise MarkupError(unclosed)
            attrs.setdefault(name, self.attribute_value(begin))

    def attribute_value(self, begin: int) -> str:
        quote = self.src[self.i]
        if quote in "'\"":
            end = self.src.find(quote, self.i + 1)
            if end < 0:
                raise MarkupError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            raw, self.i = self.src[self.i + 1 : end], end + 1
            return decode_entities(raw)
        start = self.i
        while self.i < self.n and (
            self.src[self.i].isascii() and (self.src[self.i].isalnum() or self.src[self.i] in ".-")
        ):
            self.i += 1
        if self.i >= self.n or (self.src[self.i] not in SPACES and self.src[self.i] != ">"):
            raise MarkupError(
                f"Unexpected end of name token at byte offset {self.byte_offset(start)}"
            )
        return self.src[start : self.i]

    def end_tag(self) -> None:
        begin = self.i
        if not self.stack:
            raise MarkupError(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        self.i += 2
        name_start = self.i
        while self.i < self.n and self.src[self.i] not in SPACES and self.src[self.i] != ">":
            self.i += 1
        name = self.src[name_start : self.i].lower()
        self.skip_spaces()
        if self.i >= self.n or self.src[self.i] != ">":
            raise MarkupError(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        self.i += 1
        opened = self.stack.pop()
        if name and name != opened.tag:
            raise MarkupError(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{opened.tag}>", found "</{name}>"'
            )
        self.close(opened)

    def close(self, opened: _Open) -> None:
        length = self.pos - opened.start
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": ENTITY_TYPES[opened.tag],
            "offset": opened.start,
            "length": length,
        }
        if opened.tag == "a":
            entity["url"] = opened.attrs.get("href") or "".join(self.out)[opened.chars :]
        elif opened.tag == "tg-emoji":
            entity["custom_emoji_id"] = opened.attrs["emoji-id"]
        elif opened.tag == "blockquote" and "expandable" in opened.attrs:
            entity["type"] = "expandable_blockquote"
        elif opened.tag == "code" and self.stack and self.stack[-1].tag == "pre":
            language = opened.attrs.get("class", "")
            if language.startswith("language-") and len(language) > len("language-"):
                self.stack[-1].attrs["language"] = language[len("language-") :]
                return  # TDLib folds <pre><code class="language-x"> into one pre entity
        elif opened.tag == "pre" and opened.attrs.get("language"):
            entity["language"] = opened.attrs["language"]
        self.entities.append(entity)


def decode_entity(text: str, at: int) -> tuple[str, int] | None:
    """The character the ``&...`` at ``text[at]`` stands for and the index after it, or
    None when Telegram keeps it as written."""
    i = at + 1
    if text.startswith("#", i):
        i += 1
        hexa = text[i : i + 1] in ("x", "X")
        i += hexa
        digits = "0123456789abcdefABCDEF" if hexa else "0123456789"
        start = i
        while i < len(text) and text[i] in digits and i - start < 8:
            i += 1
        if i == start:
            return None
        code = int(text[start:i], 16 if hexa else 10)
        if code == 0 or code > 0x10FFFF:
            return None
        if 0xD800 <= code <= 0xDFFF:
            raise MarkupError(SURROGATES)
        value = chr(code)
    else:
        start = i
        while i < len(text) and text[i].isascii() and text[i].isalpha():
            i += 1
        named = NAMED_ENTITIES.get(text[start:i])
        if named is None:
            return None
        value = named
    if text.startswith(";", i):
        i += 1
    return value, i


def decode_entities(text: str) -> str:
    parts: list[str] = []
    i = 0
    while i < len(text):
        decoded = decode_entity(text, i) if text[i] == "&" else None
        if decoded is None:
            parts.append(text[i])
            i += 1
        else:
            parts.append(decoded[0])
            i = decoded[1]
    return "".join(parts)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The text Telegram shows for ``text`` and its entities; ``MarkupError`` if it fails."""
    return _Parser(text).run()


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip surrounding whitespace as Telegram does, moving the entities with the text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    cut = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - cut)
        stop = min(end, entity["offset"] + entity["length"] - cut)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return stripped, kept
