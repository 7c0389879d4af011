"""Nunjucks built-in filters and tests with nunjitsu's semantics, plus Backstage's filters.

Only filters whose behaviour is pinned by the conformance suite are provided; any other
name fails at render time with an error naming the filter, so an unsupported template
fails loudly instead of rendering differently from Backstage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scaffold.nunjucks import js
from scaffold.nunjucks.js import UNDEFINED


class FilterError(ValueError):
    """A filter rejected its input, as the same nunjitsu filter would."""


def _text(value: Any, filter_name: str) -> str:
    if isinstance(value, str):
        return value
    raise FilterError(f"filter {filter_name!r} needs a string, got {js.js_type(value)}")


def _normalized_text(value: Any, filter_name: str) -> str:
    return _text("" if value is None or value is False or js.is_undefined(value) else value, filter_name)


def default(value: Any, fallback: Any = None, boolean: Any = False) -> Any:
    if js.truthy(boolean):
        return value if js.truthy(value) else fallback
    return fallback if js.is_undefined(value) else value


def dump(value: Any, indent: Any = None) -> Any:
    text = js.json_stringify(value, indent)
    return UNDEFINED if text is None else text


def join(value: Any, separator: Any = "", attribute: Any = None) -> str:
    if not isinstance(value, list):
        raise FilterError(f"filter 'join' needs an array, got {js.js_type(value)}")
    glue = js.to_string(separator) if js.truthy(separator) else ""
    if attribute is not None and not js.is_undefined(attribute):
        value = [js.lookup(item, attribute, UNDEFINED) for item in value]
    return glue.join("" if item is None or js.is_undefined(item) else js.to_string(item) for item in value)


def length(value: Any) -> Any:
    if isinstance(value, list | dict):
        return len(value)
    if isinstance(value, str):
        return js.utf16_length(value)
    if value is None or value is False or js.is_undefined(value):
        return 0
    return UNDEFINED


def lower(value: Any) -> str:
    return str.lower(_normalized_text(value, "lower"))


def upper(value: Any) -> str:
    return str.upper(_normalized_text(value, "upper"))


def capitalize(value: Any) -> str:
    text = str.lower(_normalized_text(value, "capitalize"))
    return str.upper(text[:1]) + text[1:]


def title(value: Any) -> str:
    words = _normalized_text(value, "title").split(" ")
    return " ".join(str.upper(word.lower()[:1]) + word.lower()[1:] for word in words)


def trim(value: Any) -> str:
    return _text(value, "trim").strip(js._JS_WHITESPACE)


def replace(value: Any, search: Any = None, replacement: Any = None, maximum: Any = None) -> Any:
    if maximum is None or js.is_undefined(maximum):
        maximum = -1
    if not isinstance(search, str) and not js.is_number(search):
        return value
    if js.is_number(value):
        value = js.to_string(value)
    if not isinstance(value, str):
        return value
    needle = js.to_string(search)
    replacement_text = js.to_string(replacement)
    if needle == "":
        separator = "," if js.is_undefined(replacement) else replacement_text
        units = [js.utf16_at(value, index) for index in range(js.utf16_length(value))]
        return replacement_text + separator.join(units) + replacement_text
    if maximum == 0 or needle not in value:
        return value
    if maximum == -1:
        return value.replace(needle, replacement_text)
    count = js.to_number(maximum)
    if math.isnan(count):
        return value
    chunks: list[str] = []
    remaining = value
    done = 0
    while done < count:
        index = remaining.find(needle)
        if index < 0:
            break
        chunks += [remaining[:index], replacement_text]
        remaining = remaining[index + len(needle) :]
        done += 1
    chunks.append(remaining)
    return "".join(chunks)


def first(value: Any) -> Any:
    return _edge(value, last=False)


def last(value: Any) -> Any:
    return _edge(value, last=True)


def _edge(value: Any, *, last: bool) -> Any:
    if value is None or js.is_undefined(value):
        raise FilterError(f"filter {'last' if last else 'first'!r} needs a sequence")
    if isinstance(value, list):
        if not value:
            return UNDEFINED
        return value[-1 if last else 0]
    if isinstance(value, str):
        size = js.utf16_length(value)
        if size == 0:
            return UNDEFINED
        return js.utf16_at(value, size - 1 if last else 0)
    if isinstance(value, dict):
        if not last:
            return value.get("0", UNDEFINED)
        key = js.property_key(js.normalize_number(js.to_number(value.get("length", UNDEFINED)) - 1))
        return value.get(key, UNDEFINED)
    return UNDEFINED


def indent(value: Any, width: Any = None, indent_first: Any = False) -> str:
    normalized = _normalized_text(value, "indent")
    if normalized == "":
        return ""
    spaces = js.to_number(width if js.truthy(width) else 4)
    padding = " " * int(spaces) if not math.isnan(spaces) and spaces > 0 else ""
    lines = normalized.split("\n")
    start = 0 if js.truthy(indent_first) else 1
    return "\n".join(line if index < start else padding + line for index, line in enumerate(lines))


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [js.utf16_at(value, index) for index in range(js.utf16_length(value))]
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    raise FilterError("filter 'list' needs an iterable value")


def reverse(value: Any) -> Any:
    if isinstance(value, str):
        return js.from_utf16(
            b"".join(
                reversed([js.utf16_units(value)[i : i + 2] for i in range(0, len(js.utf16_units(value)), 2)])
            )
        )
    if isinstance(value, list):
        return list(reversed(value))
    if isinstance(value, dict):
        return list(reversed(_array_like_values(value)))
    return []


def _array_like_values(record: dict[str, Any]) -> list[Any]:
    """The values of a record read as a JavaScript array-like object, through its `length`."""
    size: Any = record.get("length")
    if js.is_number(size) and not math.isnan(size):
        if size != int(size) or not 0 <= size <= 0xFFFFFFFF:
            raise FilterError("Invalid array-like record length")
        return [record.get(str(index), UNDEFINED) for index in range(int(size))]
    return []


def string(value: Any) -> str:
    if value is None or js.is_undefined(value):
        raise FilterError("filter 'string' requires a value")
    return js.render(value)


# --- Backstage's own filters (plugin-scaffolder-backend createDefaultFilters) -----------

# Hosts that `ScmIntegrations.fromConfig(new ConfigReader({}))` knows with no configuration.
DEFAULT_INTEGRATIONS = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azure",
    "amazonaws.com": "awsS3",
    "blob.core.windows.net": "azureBlobStorage",
    "storage.cloud.google.com": "googleGcs",
}
_REQUIRED_REPO_PARAMS = {
    "bitbucketCloud": ("workspace", "project", "repo"),
    "azure": ("project", "repo"),
}


def parse_repo_url(value: Any) -> dict[str, Any]:
    url = js.to_string(value)
    try:
        parsed = urlsplit(f"https://{url}")
        host = (parsed.hostname or "") + (f":{parsed.port}" if parsed.port not in (None, 443) else "")
    except ValueError as error:
        raise FilterError(f"Invalid repo URL passed to publisher, got {url}, {error}") from error
    kind = DEFAULT_INTEGRATIONS.get(host)
    if kind is None:
        raise FilterError(
            f"No matching integration configuration for host {host}, please check your integrations config"
        )
    params: dict[str, str] = {}
    for key, item in parse_qsl(parsed.query, keep_blank_values=True):
        params.setdefault(key, item)
    required = _REQUIRED_REPO_PARAMS.get(kind, ("repo", "owner"))
    if kind == "gitlab" and params.get("project"):
        required = ()
    for name in required:
        if not params.get(name):
            raise FilterError(f"Invalid repo URL passed to publisher: https://{url}, missing {name}")
    result: dict[str, Any] = {"host": host}
    for name in ("owner", "repo", "organization", "workspace", "project"):
        if name in params:
            result[name] = params[name].strip("/")
    return result


def project_slug(value: Any) -> str:
    parsed = parse_repo_url(value)
    owner, repo = (js.to_string(parsed.get(name, UNDEFINED)) for name in ("owner", "repo"))
    return f"{owner}/{repo}"


def parse_entity_ref(value: Any, context: Any = None) -> dict[str, str]:
    if not js.truthy(value):
        raise FilterError("Entity reference must not be empty")
    options = context if isinstance(context, dict) else {}
    kind: Any
    namespace: Any
    name: Any
    default_kind = options.get("defaultKind")
    default_namespace = options.get("defaultNamespace") or "default"
    if isinstance(value, str):
        colon = value.find(":")
        slash = value.find("/")
        if slash != -1 and slash < colon:
            colon = -1
        kind = value[:colon] if colon != -1 else None
        namespace = value[colon + 1 : slash] if slash != -1 else None
        name = value[max(colon + 1, slash + 1) :]
        if kind == "" or namespace == "" or name == "":
            raise FilterError(f'Entity reference "{value}" was not on the form [<kind>:][<namespace>/]<name>')
        kind = kind if kind is not None else default_kind
        namespace = namespace if namespace is not None else default_namespace
    elif isinstance(value, dict):
        kind = value.get("kind", default_kind)
        namespace = value.get("namespace", default_namespace)
        name = value.get("name")
    else:
        raise FilterError("Entity reference must be a string or an object")
    textual = js.json_stringify(value)
    if not kind:
        raise FilterError(
            f"Entity reference {textual} had missing or empty kind "
            '(e.g. did not start with "component:" or similar)'
        )
    if not namespace:
        raise FilterError(f"Entity reference {textual} had missing or empty namespace")
    if not name:
        raise FilterError(f"Entity reference {textual} had missing or empty name")
    return {"kind": kind, "namespace": namespace, "name": name}


# lodash's stringToPath: `a.b`, `a[0]`, `a["b.c"]`.
_LODASH_PATH = re.compile(
    r"""[^.[\]]+|\[(?:([^"'][^[]*)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]|(?=(?:\.|\[\])(?:\.|\[\]|$))"""
)


def pick(value: Any, path: Any = None) -> Any:
    """lodash `get(object, path)`."""
    if isinstance(path, list):
        keys = [js.to_string(key) for key in path]
    else:
        text = js.to_string(path)
        keys = []
        for match in _LODASH_PATH.finditer(text):
            if match.group(3) is not None:
                keys.append(re.sub(r"\\(\\)?", r"\1", match.group(3)))
            elif match.group(1) is not None:
                keys.append(match.group(1).strip())
            else:
                keys.append(match.group(0))
        if text.startswith("."):
            keys.insert(0, "")
    current = value
    for key in keys:
        if current is None or js.is_undefined(current):
            return UNDEFINED
        current = js.lookup(current, key, UNDEFINED)
    return UNDEFINED if not keys else current


FILTERS: dict[str, Callable[..., Any]] = {
    "capitalize": capitalize,
    "d": default,
    "default": default,
    "dump": dump,
    "first": first,
    "indent": indent,
    "join": join,
    "last": last,
    "length": length,
    "list": to_list,
    "lower": lower,
    "replace": replace,
    "reverse": reverse,
    "string": string,
    "title": title,
    "trim": trim,
    "upper": upper,
    "parseRepoUrl": parse_repo_url,
    "projectSlug": project_slug,
    "parseEntityRef": parse_entity_ref,
    "pick": pick,
}


def _test_number(value: Any) -> bool:
    return js.is_number(value)


TESTS: dict[str, Callable[..., bool]] = {
    "defined": lambda value: not js.is_undefined(value),
    "undefined": js.is_undefined,
    "null": lambda value: value is None,
    "none": lambda value: value is None,
    "number": _test_number,
    "string": lambda value: isinstance(value, str),
    "mapping": lambda value: isinstance(value, dict),
    "truthy": js.truthy,
    "falsy": lambda value: not js.truthy(value),
    "eq": js.strict_equal,
    "equalto": js.strict_equal,
    "sameas": js.strict_equal,
    "ne": lambda value, other: not js.strict_equal(value, other),
    "odd": lambda value: math.fmod(js.to_number(value), 2) == 1,
    "even": lambda value: math.fmod(js.to_number(value), 2) == 0,
    "lower": lambda value: isinstance(value, str) and value.lower() == value,
    "upper": lambda value: isinstance(value, str) and value.upper() == value,
}
