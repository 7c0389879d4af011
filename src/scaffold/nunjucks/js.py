"""JavaScript value semantics that Nunjucks templates observe.

Backstage renders with nunjitsu, whose values behave like JavaScript values: numbers are
doubles, `[]` is truthy, `"1" == 1`, arrays print as `a,b`, and so on. Templates are
rendered here over plain Python data (`None`, `bool`, `int`, `float`, `str`, `list`,
`dict`) plus Jinja2's `Undefined`; these helpers give that data its JavaScript meaning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from jinja2.runtime import ChainableUndefined, Undefined

MAX_SAFE_INTEGER = 2**53 - 1
RESERVED_KEYS = frozenset({"constructor", "prototype", "__proto__"})
_CANONICAL_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")
_MAX_ARRAY_INDEX = 2**32 - 2


class JsUndefined(ChainableUndefined):
    """`undefined`: prints nothing, and looking anything up on it is undefined again."""

    __slots__ = ()


UNDEFINED = JsUndefined()


class TemplateValueError(TypeError):
    """A context value that nunjitsu refuses to accept."""


def is_undefined(value: object) -> bool:
    return isinstance(value, Undefined)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_canonical_array_index(key: str) -> bool:
    return bool(_CANONICAL_INDEX.match(key)) and int(key) <= _MAX_ARRAY_INDEX


def js_object_order(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Order keys as JavaScript does: array-index keys ascending, then insertion order."""
    indexed = sorted((key for key in mapping if is_canonical_array_index(key)), key=int)
    if not indexed:
        return dict(mapping)
    ordered = {key: mapping[key] for key in indexed}
    ordered.update((key, value) for key, value in mapping.items() if key not in ordered)
    return ordered


def prepare(value: Any) -> Any:
    """Copy JSON-like data into the shape nunjitsu sees (JS numbers and key order)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TemplateValueError(f"template record keys must be strings, got {key!r}")
            if key in RESERVED_KEYS:
                raise TemplateValueError(f"Template record key {key} is reserved")
        return js_object_order({key: prepare(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return [prepare(item) for item in value]
    raise TemplateValueError(f"unsupported template value of type {type(value).__name__}")


def number_to_string(value: float) -> str:
    """`String(number)` as ECMAScript defines it (shortest round-trip digits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 10**21:
            return str(value)
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # n is the position of the decimal point relative to the digit string (ECMA-262 7.1.12.1).
    n = (
        len(whole.lstrip("0")) + exponent
        if whole.strip("0")
        else exponent - (len(fraction) - len(fraction.lstrip("0")))
    )
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent_sign = "+" if n - 1 >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{exponent_sign}{abs(n - 1)}"


def to_primitive(value: Any) -> Any:
    """ToPrimitive with the hint nunjitsu uses: arrays join, records are `[object Object]`."""
    if isinstance(value, list):
        return ",".join("" if item is None or is_undefined(item) else to_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return value


def to_string(value: Any) -> str:
    """`String(value)`: what `~` and `+` use (undefined becomes "undefined")."""
    primitive = to_primitive(value)
    if is_undefined(primitive):
        return "undefined"
    if primitive is None:
        return "null"
    if primitive is True:
        return "true"
    if primitive is False:
        return "false"
    if isinstance(primitive, str):
        return primitive
    if is_number(primitive):
        return number_to_string(primitive)
    return str(primitive)


def render(value: Any) -> str:
    """What an output tag prints: undefined and null print nothing."""
    if value is None or is_undefined(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(render(item) for item in value)
    return to_string(value)


def to_number(value: Any) -> float:
    primitive = to_primitive(value)
    if is_undefined(primitive):
        return math.nan
    if primitive is None or primitive is False:
        return 0
    if primitive is True:
        return 1
    if is_number(primitive):
        return float(primitive) if isinstance(primitive, float) else primitive
    return string_to_number(str(primitive))


_JS_WHITESPACE = (
    " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"^[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$")
_RADIX = re.compile(r"^0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$")


def string_to_number(text: str) -> float:
    """`Number(string)`."""
    stripped = text.strip(_JS_WHITESPACE)
    if stripped == "":
        return 0
    if _RADIX.match(stripped):
        return int(stripped, 0)
    if not _DECIMAL.match(stripped):
        return math.nan
    if stripped.lstrip("+-") == "Infinity":
        return -math.inf if stripped.startswith("-") else math.inf
    number = float(stripped)
    return int(number) if number.is_integer() and abs(number) <= MAX_SAFE_INTEGER else number


def normalize_number(value: float) -> float:
    """Keep integral doubles as Python ints so they print and index like JS numbers."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        if value == 0 and math.copysign(1, value) < 0:
            return value
        return int(value)
    return value


def truthy(value: Any) -> bool:
    if value is None or value is False or is_undefined(value):
        return False
    if is_number(value):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return len(value) > 0
    return True


def loose_equal(left: Any, right: Any) -> bool:
    """`left == right` in JavaScript."""
    if strict_equal(left, right):
        return True
    left_primitive = not isinstance(left, list | dict)
    right_primitive = not isinstance(right, list | dict)
    if not left_primitive and not right_primitive:
        return False
    return _primitive_loose_equal(to_primitive(left), to_primitive(right))


def _nullish(value: Any) -> bool:
    return value is None or is_undefined(value)


def _primitive_loose_equal(left: Any, right: Any) -> bool:
    if strict_equal(left, right):
        return True
    if _nullish(left) or _nullish(right):
        return _nullish(left) and _nullish(right)
    if js_type(left) == js_type(right):
        return False
    if isinstance(left, bool):
        return _primitive_loose_equal(1 if left else 0, right)
    if isinstance(right, bool):
        return _primitive_loose_equal(left, 1 if right else 0)
    if is_number(left) and isinstance(right, str):
        return bool(left == string_to_number(right))
    if isinstance(left, str) and is_number(right):
        return bool(string_to_number(left) == right)
    return False


def js_type(value: Any) -> str:
    if is_undefined(value):
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def strict_equal(left: Any, right: Any) -> bool:
    """`left === right`: containers compare by identity."""
    if isinstance(left, list | dict) or isinstance(right, list | dict):
        return left is right
    left_type, right_type = js_type(left), js_type(right)
    if left_type != right_type:
        return False
    if left_type in ("undefined", "null"):
        return True
    return bool(left == right)


def order(left: Any, right: Any) -> float:
    """Compare as `<` does: strings by UTF-16 code units, everything else as numbers."""
    left_primitive, right_primitive = to_primitive(left), to_primitive(right)
    if isinstance(left_primitive, str) and isinstance(right_primitive, str):
        left_units, right_units = utf16_units(left_primitive), utf16_units(right_primitive)
        return (left_units > right_units) - (left_units < right_units)
    left_number, right_number = to_number(left_primitive), to_number(right_primitive)
    if left_number < right_number:
        return -1
    if left_number > right_number:
        return 1
    if left_number == right_number:
        return 0
    return math.nan


def utf16_units(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def utf16_length(text: str) -> int:
    return len(utf16_units(text)) // 2


def from_utf16(units: bytes) -> str:
    return units.decode("utf-16-be", "surrogatepass")


def utf16_at(text: str, index: int) -> str:
    units = utf16_units(text)
    return from_utf16(units[2 * index : 2 * index + 2])


def property_key(value: Any) -> str:
    return to_string(value)


def array_index(key: str, length: int) -> int | None:
    if _CANONICAL_INDEX.match(key):
        index = int(key)
        if index < length:
            return index
    return None


def lookup(target: Any, key: Any, undefined: Undefined) -> Any:
    """Own-property lookup: record keys, array and string indices and `length`."""
    name = property_key(key)
    if isinstance(target, dict):
        if name in RESERVED_KEYS:
            return undefined
        return target.get(name, undefined)
    if isinstance(target, list):
        if name == "length":
            return len(target)
        index = array_index(name, len(target))
        return undefined if index is None else target[index]
    if isinstance(target, str):
        if name == "length":
            return utf16_length(target)
        index = array_index(name, utf16_length(target))
        return undefined if index is None else utf16_at(target, index)
    return undefined


def json_stringify(value: Any, indent: Any = None) -> str | None:
    """`JSON.stringify(value, null, indent)`; None where JavaScript returns undefined."""
    if is_number(indent):
        gap = " " * min(10, int(indent)) if indent > 0 else ""
    elif isinstance(indent, str):
        gap = indent[:10]
    else:
        gap = ""
    return _stringify(value, gap, "")


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def json_quote(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        character = match.group(0)
        return _ESCAPES.get(character) or f"\\u{ord(character):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def _stringify(value: Any, gap: str, indent: str) -> str | None:
    if is_undefined(value):
        return None
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json_quote(value)
    if is_number(value):
        return number_to_string(value) if math.isfinite(value) else "null"
    inner = indent + gap
    separator = ",\n" + inner if gap else ","
    if isinstance(value, list | tuple):
        items = [_stringify(item, gap, inner) or "null" for item in value]
        if not items:
            return "[]"
        if gap:
            return "[\n" + inner + separator.join(items) + "\n" + indent + "]"
        return "[" + ",".join(items) + "]"
    if isinstance(value, Mapping):
        colon = ": " if gap else ":"
        members = []
        for key, item in value.items():
            text = _stringify(item, gap, inner)
            if text is not None:
                members.append(json_quote(key) + colon + text)
        if not members:
            return "{}"
        if gap:
            return "{\n" + inner + separator.join(members) + "\n" + indent + "}"
        return "{" + ",".join(members) + "}"
    return None
