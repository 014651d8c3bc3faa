"""Say where a JSON5 document is broken and what was expected there.

The ``json5`` library stops at the first character it cannot parse and says
``<string>:LINE Unexpected "X" at column COL``, without saying what it wanted. This
module re-reads the text up to that point with a small scanner that tracks the open
objects and arrays, and says what the grammar wanted next ("a key or }", "a value",
"," or "]", ...). When the scanner finds a problem earlier than the parser's position
(the parser backtracks), it reports its own position, which is then the more useful one.

Framework-free: no Django import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARSER_MESSAGE = re.compile(r"^<string>:(\d+) Unexpected (.+) at column (\d+)$")
_WORD = re.compile(r"[A-Za-z0-9_$+.\-\\]+")
_NUMBER = re.compile(
    r"[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_LITERALS = ("true", "false", "null")
VALUE = "a value (a string, number, object, array, true, false or null)"

# What each state wants next.
_WANTS = {
    ("top", "value"): VALUE,
    ("top", "end"): "the end of the document",
    ("object", "key"): 'a key or "}"',
    ("object", "colon"): '":"',
    ("object", "value"): VALUE,
    ("object", "comma"): '"," or "}"',
    ("array", "value"): f'{VALUE} or "]"',
    ("array", "comma"): '"," or "]"',
}


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based
    column: int  # 1-based
    found: str  # what is there, e.g. '"}"' or "end of file"
    expected: str

    def describe(self, name: str) -> str:
        return (
            f"{name}:{self.line}:{self.column}: unexpected {self.found}; expected {self.expected}"
        )


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _offset(text: str, line: int, column: int) -> int:
    start = 0
    for _ in range(line - 1):
        found = text.find("\n", start)
        if found < 0:
            return len(text)
        start = found + 1
    return min(start + column - 1, len(text))


def _q(text: str) -> str:
    return f'"{text}"' if '"' not in text else f"'{text}'"


def _shown(text: str, offset: int) -> str:
    if offset >= len(text):
        return "end of file"
    return _q(text[offset])


class _Scanner:
    """Walk tokens up to ``stop``; ``problem`` is set at the first one out of place."""

    def __init__(self, text: str, stop: int) -> None:
        self.text = text
        self.stop = stop
        self.stack: list[list[str]] = [["top", "value"]]
        self.problem: tuple[int, str, str] | None = None  # offset, found, expected

    @property
    def wants(self) -> str:
        kind, state = self.stack[-1]
        return _WANTS[(kind, state)]

    def _fail(self, offset: int, found: str, expected: str | None = None) -> None:
        if self.problem is None:
            self.problem = (offset, found, expected or self.wants)

    def _value_done(self) -> None:
        top = self.stack[-1]
        top[1] = "end" if top[0] == "top" else "comma"

    def _skip_space(self, pos: int) -> int:
        text = self.text
        while pos < len(text):
            if text[pos].isspace() or text[pos] == "\ufeff":
                pos += 1
            elif text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                pos = len(text) if end < 0 else end + 2
            else:
                break
        return pos

    def _string_end(self, pos: int) -> int:
        quote, text = self.text[pos], self.text
        pos += 1
        while pos < len(text) and text[pos] != quote:
            pos += 2 if text[pos] == "\\" else 1
        return pos + 1

    def _open(self, pos: int, kind: str) -> None:
        kind_state = self.stack[-1]
        if kind_state[1] != "value":
            self._fail(pos, _q(self.text[pos]))
            return
        self.stack.append([kind, "key" if kind == "object" else "value"])

    def _close(self, pos: int, char: str) -> None:
        kind, state = self.stack[-1]
        closes = {"object": ("key", "comma"), "array": ("value", "comma")}
        if kind != ("object" if char == "}" else "array") or state not in closes[kind]:
            self._fail(pos, _q(char))
            return
        self.stack.pop()
        self._value_done()

    def _punct(self, pos: int, char: str) -> None:
        kind, state = self.stack[-1]
        if char == ":" and (kind, state) == ("object", "colon"):
            self.stack[-1][1] = "value"
        elif char == "," and state == "comma" and kind in ("object", "array"):
            # JSON5 allows a trailing comma: "}" or "]" may follow.
            self.stack[-1][1] = "key" if kind == "object" else "value"
        else:
            self._fail(pos, _q(char))

    def _scalar(self, pos: int, end: int, quoted: bool) -> None:
        kind, state = self.stack[-1]
        word = self.text[pos:end]
        if kind == "object" and state == "key":
            if not quoted and not _IDENTIFIER.fullmatch(word):
                self._fail(pos, _q(word), 'a key (a name, or a string in quotes) or "}"')
                return
            self.stack[-1][1] = "colon"
            return
        if state != "value":
            self._fail(pos, _q(word if not quoted else self.text[pos]))
            return
        if not quoted and word not in _LITERALS and not _NUMBER.fullmatch(word):
            self._fail(pos, _q(word), f'{VALUE}; put text in quotes, e.g. "{word}"')
            return
        self._value_done()

    def run(self) -> None:
        text, pos = self.text, 0
        while self.problem is None:
            pos = self._skip_space(pos)
            if pos >= self.stop or pos >= len(text):
                return
            char = text[pos]
            if char in "{[":
                self._open(pos, "object" if char == "{" else "array")
                pos += 1
            elif char in "}]":
                self._close(pos, char)
                pos += 1
            elif char in ":,":
                self._punct(pos, char)
                pos += 1
            elif char in "\"'":
                end = self._string_end(pos)
                if end > len(text):
                    self._fail(len(text), "end of file", f"the closing {char}")
                    return
                self._scalar(pos, end, quoted=True)
                pos = end
            else:
                match = _WORD.match(text, pos)
                end = match.end() if match else pos + 1
                self._scalar(pos, end, quoted=False)
                pos = end


def json5_problem(text: str, message: str) -> SyntaxProblem:
    """Where and why ``text`` does not parse, from the ``json5`` library's ``message``."""
    parsed = _PARSER_MESSAGE.match(message.strip())
    if parsed is not None:
        stop = _offset(text, int(parsed.group(1)), int(parsed.group(3)))
    else:  # "Empty strings are not legal JSON5", or a message we do not know
        stop = len(text)
    scanner = _Scanner(text, stop)
    scanner.run()
    if scanner.problem is not None:
        offset, found, expected = scanner.problem
    else:
        offset, found, expected = stop, _shown(text, stop), scanner.wants
    line, column = _position(text, offset)
    return SyntaxProblem(line=line, column=column, found=found, expected=expected)
