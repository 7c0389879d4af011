"""The committed AsyncAPI description (asyncapi.json) is the code's: every type and version
of the registry is a message of the stream's channel, and every reference resolves."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ${{ values.packageName }}.events.asyncapi import asyncapi_document
from ${{ values.packageName }}.products.event_payloads import PRODUCT_EVENTS

COMMITTED = Path(__file__).resolve().parents[2] / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(asyncapi_document())
    return parsed


def test_the_committed_document_is_the_code_s() -> None:
    if COMMITTED.read_text(encoding="utf-8") != asyncapi_document():
        pytest.fail("asyncapi.json differs from the code: run `make asyncapi` and commit it")


def test_every_type_and_version_is_a_message(document: dict[str, Any]) -> None:
    registered = {
        (event_type.name, version.version, version.model.__name__)
        for event_type in PRODUCT_EVENTS.describe()
        for version in event_type.versions
    }
    described = set()
    for message in document["components"]["messages"].values():
        fixed = message["payload"]["allOf"][1]["properties"]
        model = fixed["payload"]["$ref"].rsplit("/", 1)[1]
        described.add((fixed["type"]["const"], fixed["version"]["const"], model))

    assert described == registered
    [channel] = document["channels"].values()
    assert set(channel["messages"]) == set(document["components"]["messages"])


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    unresolved = []
    for reference in set(references(document)):
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            if not isinstance(target, dict) or part not in target:
                unresolved.append(reference)
                break
            target = target[part]

    assert unresolved == []
