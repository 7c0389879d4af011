"""Split a template into text, variable and block tokens the way nunjitsu does.

Jinja2's lexer differs from nunjitsu's scanner in ways that change output: it trims
after comments with `trim_blocks`, strips indentation before comments with
`lstrip_blocks`, normalises line endings, accepts a stray `#}` and does not nest
`{% raw %}`. So the scan is done here, and only the inside of each tag is handed to
Jinja2's expression lexer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from jinja2.exceptions import TemplateSyntaxError

# JavaScript's `\s`, which nunjitsu uses for `-` trimming and lstripBlocks.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_CODE_WHITESPACE = " \t\n\r\u00a0"
_TRAILING_WHITESPACE = re.compile(f"[{JS_WHITESPACE}]+$")
_LEADING_WHITESPACE = re.compile(f"[{JS_WHITESPACE}]*")
_INDENTATION = re.compile(f"^[{JS_WHITESPACE}]*$")
_LEADING_NEWLINE = re.compile(r"^\r?\n")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TokenKind = Literal["text", "variable", "block"]


@dataclass(frozen=True, slots=True)
class ScannedToken:
    kind: TokenKind
    value: str
    line: int  # one-based


def _leading_whitespace(source: str, index: int) -> str:
    match = _LEADING_WHITESPACE.match(source, index)
    return match.group(0) if match else ""


def trim_code(value: str) -> str:
    return value.strip(_CODE_WHITESPACE)


def tag_name(value: str) -> str:
    match = _IDENTIFIER.match(trim_code(value))
    return match.group(0) if match else ""


def _skip_string(source: str, start: int) -> int | None:
    quote = source[start]
    if quote not in "\"'":
        return None
    index = start + 1
    while index < len(source):
        character = source[index]
        if character == "\\":
            index += 2
            continue
        if character == quote:
            return index + 1
        index += 1
    return len(source)


def _find_code_terminator(source: str, start: int, terminator: str, line: int) -> int:
    index = start
    last = len(source) - len(terminator)
    while index <= last:
        skipped = _skip_string(source, index)
        if skipped is not None:
            index = skipped
            continue
        identifier = _IDENTIFIER.match(source, index)
        if identifier:
            if identifier.group(0) == "r" and source.startswith("/", identifier.end()):
                raise TemplateSyntaxError(
                    "regular-expression literals (r/.../) are not supported by this renderer",
                    line,
                )
            index = identifier.end()
            continue
        if source.startswith(terminator, index):
            return index
        index += 1
    return -1


class _Scanner:
    def __init__(self, source: str, *, variable_start: str, trim_blocks: bool, lstrip_blocks: bool):
        self.source = source
        self.variable_start = variable_start
        self.trim_blocks = trim_blocks
        self.lstrip_blocks = lstrip_blocks
        self.tokens: list[ScannedToken] = []
        self.index = 0
        self.line = 1
        self.line_has_content = False
        self.pending = ""
        self.pending_line = 1

    def advance(self, text: str) -> None:
        newline = text.rfind("\n")
        if newline >= 0:
            self.line += text.count("\n")
            self.line_has_content = bool(text[newline + 1 :].strip(JS_WHITESPACE))
        elif text.strip(JS_WHITESPACE):
            self.line_has_content = True
        self.index += len(text)

    def append_text(self, text: str) -> None:
        if not self.pending:
            self.pending_line = self.line
        self.pending += text
        self.advance(text)

    def flush_text(self) -> None:
        if self.pending:
            self.tokens.append(ScannedToken("text", self.pending, self.pending_line))
            self.pending = ""

    def next_opening(self) -> tuple[str, int, str] | None:
        candidates = []
        for kind, opener in (("variable", self.variable_start), ("block", "{%"), ("comment", "{#")):
            position = self.source.find(opener, self.index)
            if position >= 0:
                candidates.append((position, kind, opener))
        if not candidates:
            return None
        position, kind, opener = min(candidates)
        return kind, position, opener

    def scan(self) -> list[ScannedToken]:
        source = self.source
        while self.index < len(source):
            opening = self.next_opening()
            stray_comment_end = source.find("#}", self.index)
            if stray_comment_end >= 0 and (opening is None or stray_comment_end < opening[1]):
                line = source.count("\n", 0, stray_comment_end) + 1
                raise TemplateSyntaxError("Unexpected end of comment", line)
            if opening is None:
                self.append_text(source[self.index :])
                break
            kind, position, opener = opening
            self.append_text(source[self.index : position])
            start_line = self.line
            if kind == "block" and self.lstrip_blocks:
                self.pending = self._strip_block_indent(self.pending)
            left_trim = source.startswith(opener + "-", position)
            if left_trim:
                self.pending = _TRAILING_WHITESPACE.sub("", self.pending)
            self.flush_text()
            self.advance(opener + ("-" if left_trim else ""))
            close = {"block": "%}", "comment": "#}", "variable": "}}"}[kind]
            if kind == "comment":
                end = source.find(close, self.index)
            else:
                end = _find_code_terminator(source, self.index, close, start_line)
            if end < 0:
                raise TemplateSyntaxError(f"Unterminated {kind} tag", start_line)
            right_trim = source[end - 1] == "-"
            content = source[self.index : end - 1 if right_trim else end]
            self.advance(source[self.index : end + len(close)])
            if kind != "comment":
                value = content.lstrip(_CODE_WHITESPACE) if kind == "variable" else trim_code(content)
                name = tag_name(value) if kind == "block" else ""
                if name in ("raw", "verbatim"):
                    self._scan_raw(name, value, start_line, right_trim)
                    continue
                self.tokens.append(ScannedToken(kind, value, start_line))  # type: ignore[arg-type]
            if right_trim:
                self.advance(_leading_whitespace(source, self.index))
            elif kind == "block" and self.trim_blocks:
                self._skip_newline()
        self.flush_text()
        return self.tokens

    def _skip_newline(self) -> None:
        newline = _LEADING_NEWLINE.match(self.source[self.index : self.index + 2])
        if newline:
            self.advance(newline.group(0))

    def _strip_block_indent(self, text: str) -> str:
        if self.line_has_content:
            return text
        newline = text.rfind("\n")
        suffix = text[newline + 1 :]
        return text[: newline + 1] if _INDENTATION.match(suffix) else text

    def _scan_raw(self, name: str, value: str, start_line: int, right_trim: bool) -> None:
        if trim_code(trim_code(value)[len(name) :]):
            raise TemplateSyntaxError(f"{name} tag does not accept trailing content", start_line)
        if self.trim_blocks:
            self._skip_newline()
        closing = self._find_raw_end(name)
        if closing is None:
            raise TemplateSyntaxError(f'Missing "end{name}" tag', start_line)
        start, end = closing
        if "\n" in self.source[start:end]:
            raise TemplateSyntaxError(f"{name} closing tag cannot contain a line break", start_line)
        self.append_text(self.source[self.index : start])
        self.advance(self.source[self.index : end])
        if right_trim:
            self.advance(_leading_whitespace(self.source, self.index))

    def _find_raw_end(self, name: str) -> tuple[int, int] | None:
        depth = 1
        index = self.index
        marker = re.compile(f"\\{{%[{JS_WHITESPACE}]*(end{name}|{name})[{JS_WHITESPACE}]*%\\}}")
        while True:
            start = self.source.find("{%", index)
            if start < 0:
                return None
            match = marker.match(self.source, start)
            if match is None:
                index = start + 2
                continue
            if match.group(1) == name:
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return start, match.end()
            index = match.end()


def scan(
    source: str,
    *,
    variable_start: str = "${{",
    trim_blocks: bool = False,
    lstrip_blocks: bool = False,
) -> list[ScannedToken]:
    """Tokenise a template: text, variable contents and block contents, comments dropped."""
    scanner = _Scanner(
        source, variable_start=variable_start, trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks
    )
    return scanner.scan()
