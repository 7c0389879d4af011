"""Where a value stops matching a schema `pattern`, to name that character in an error.

A regular expression such as the description's is hundreds of characters long; printing it
tells a user nothing. Instead, find the first character after which no continuation of the
value could match: for '^[a-z][a-z0-9]*(-[a-z0-9]+)*$' and "orders_api" that is the "_".
Deciding whether a prefix can still be completed needs partial matching, which neither `re`
nor the ECMAScript engine offers, so this walks the parsed pattern itself. It only locates
the problem; whether a value matches is still decided by the ECMAScript engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the stubs know these modules under their old names
    import sre_constants as _constants
    import sre_parse as _parser
else:
    from re import _constants, _parser

_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    _constants.CATEGORY_DIGIT: str.isdigit,
    _constants.CATEGORY_SPACE: str.isspace,
    _constants.CATEGORY_WORD: lambda char: char.isalnum() or char == "_",
}
_NOT_CATEGORIES: dict[Any, Any] = {
    _constants.CATEGORY_NOT_DIGIT: _constants.CATEGORY_DIGIT,
    _constants.CATEGORY_NOT_SPACE: _constants.CATEGORY_SPACE,
    _constants.CATEGORY_NOT_WORD: _constants.CATEGORY_WORD,
}


class _UnsupportedSyntaxError(Exception):
    """The pattern uses syntax this walk does not model (back-references, lookbehind...)."""


class _Completable(Exception):  # noqa: N818 - a signal, not an error
    """The prefix ran out while the pattern could still go on: some continuation may match."""


def first_offending_index(pattern: str, value: str) -> int | None:
    """Index of the first character of `value` that no match can continue with, `len(value)`
    if every prefix can be completed but the value ends too early, None if unknown."""
    try:
        tree = list(_parser.parse(pattern).data)
        # A prefix that cannot be completed stays so when it grows: search for the shortest.
        low, high = 0, len(value) + 1  # prefixes up to `low` can be completed; `high` cannot
        if not _Walk(value, 0, partial=True).completable(tree):
            return None  # nothing can match this pattern
        while high - low > 1:
            middle = (low + high) // 2
            if _Walk(value, middle, partial=True).completable(tree):
                low = middle
            else:
                high = middle
    except (_UnsupportedSyntaxError, _parser.error, RecursionError):
        return None
    return low


class _Walk:
    """Backtracking over `value[:limit]`. Partial: running out of text is a success (the
    rest could follow). Not partial: the items must match within the prefix."""

    def __init__(self, value: str, limit: int, *, partial: bool) -> None:
        self.value, self.limit, self.partial = value, limit, partial

    def completable(self, items: list[Any]) -> bool:
        try:
            return next(self.sequence(items, 0, 0), None) is not None
        except _Completable:
            return True

    def sequence(self, items: list[Any], index: int, position: int) -> Iterator[int]:
        if index == len(items):
            yield position
            return
        for end in self.item(items[index], position):
            yield from self.sequence(items, index + 1, end)

    def item(self, item: tuple[Any, Any], position: int) -> Iterator[int]:
        operator, argument = item
        if operator in (_constants.LITERAL, _constants.NOT_LITERAL, _constants.ANY, _constants.IN):
            if self.take(item, position):
                yield position + 1
        elif operator in (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT):
            low, high, body = argument
            yield from self.repeat(list(body), low, high, position)
        elif operator in (_constants.SUBPATTERN, _constants.ATOMIC_GROUP):
            yield from self.sequence(list(argument[-1]), 0, position)
        elif operator == _constants.BRANCH:
            for branch in argument[1]:
                yield from self.sequence(list(branch), 0, position)
        elif operator == _constants.AT:
            if self.at(argument, position):
                yield position
        elif operator in (_constants.ASSERT, _constants.ASSERT_NOT) and argument[0] == 1:
            positive = operator == _constants.ASSERT
            # A positive lookahead may be completed later; a negative one blocks only if what
            # it forbids is already there in full.
            if self.lookahead(list(argument[1]), position, partial=positive and self.partial) == positive:
                yield position
        else:
            raise _UnsupportedSyntaxError(str(operator))

    def take(self, item: tuple[Any, Any], position: int) -> bool:
        """Whether one character can be consumed here; at the end of a partial prefix, yes."""
        if position >= self.limit:
            if self.partial:
                raise _Completable
            return False
        return _accepts(item, self.value[position])

    def repeat(self, body: list[Any], low: int, high: int, position: int) -> Iterator[int]:
        if len(body) == 1 and body[0][0] in (
            _constants.LITERAL,
            _constants.NOT_LITERAL,
            _constants.ANY,
            _constants.IN,
        ):
            # One character at a time: a loop, not a recursion as deep as the value is long.
            count = 0
            while count < high and self.take(body[0], position + count):
                count += 1
            yield from (position + taken for taken in range(count, low - 1, -1))
            return
        yield from self._repeat(body, low, high, position, 0)

    def _repeat(self, body: list[Any], low: int, high: int, position: int, count: int) -> Iterator[int]:
        if count < high:
            for end in self.sequence(body, 0, position):
                if end > position or count < low:
                    yield from self._repeat(body, low, high, end, count + 1)
        if count >= low:
            yield position

    def at(self, code: Any, position: int) -> bool:
        if code in (_constants.AT_BEGINNING, _constants.AT_BEGINNING_STRING):
            return position == 0
        if code in (_constants.AT_END, _constants.AT_END_STRING):
            # At the end of a prefix, the value may end here (partial) or may not (whole).
            return position == self.limit and (self.partial or self.limit == len(self.value))
        raise _UnsupportedSyntaxError(str(code))

    def lookahead(self, items: list[Any], position: int, *, partial: bool) -> bool:
        walk = _Walk(self.value, self.limit, partial=partial)
        try:
            return next(walk.sequence(items, 0, position), None) is not None
        except _Completable:
            return True


def _accepts(item: tuple[Any, Any], char: str) -> bool:
    operator, argument = item
    if operator == _constants.LITERAL:
        return bool(ord(char) == argument)
    if operator == _constants.NOT_LITERAL:
        return bool(ord(char) != argument)
    if operator == _constants.ANY:
        return char != "\n"
    negate = bool(argument) and argument[0][0] == _constants.NEGATE
    matched = any(_in_class(member, char) for member in argument[1 if negate else 0 :])
    return matched != negate


def _in_class(member: tuple[Any, Any], char: str) -> bool:
    operator, argument = member
    if operator == _constants.LITERAL:
        return bool(ord(char) == argument)
    if operator == _constants.RANGE:
        return bool(argument[0] <= ord(char) <= argument[1])
    if operator == _constants.CATEGORY:
        if argument in _NOT_CATEGORIES:
            return not _CATEGORIES[_NOT_CATEGORIES[argument]](char)
        if argument in _CATEGORIES:
            return _CATEGORIES[argument](char)
    raise _UnsupportedSyntaxError(str(operator))
