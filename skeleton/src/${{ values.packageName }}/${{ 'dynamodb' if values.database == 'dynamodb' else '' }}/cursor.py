"""Listing cursors: the key a page ended at, as base64 JSON. Unsigned: the repository checks
every key attribute against the request, so a made-up cursor can at most start the client's
own listing at another of its own products."""

import base64
import binascii
import json
from collections.abc import Mapping


def encode_cursor(key: Mapping[str, str]) -> str:
    text = json.dumps(dict(key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode("ascii")


def decode_cursor(cursor: str) -> dict[str, str]:
    """The key ``encode_cursor`` turned into ``cursor``; ``ValueError`` for any other text."""
    try:
        key = json.loads(base64.b64decode(cursor, altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, RecursionError):
        raise ValueError("the cursor is not base64 of JSON") from None
    if not isinstance(key, dict) or not all(isinstance(value, str) for value in key.values()):
        raise ValueError("the cursor is not a key of string attributes")
    if encode_cursor(key) != cursor:
        raise ValueError("the cursor is not in the form this service writes")
    return key
