"""The AsyncAPI 3.0 description of the service's events, generated from the registry and
committed as ``asyncapi.json`` at the repository root: ``make asyncapi`` writes it, and a
test fails when it differs from the code.

One channel, the stream; one message per event type and version. A message's payload is the
envelope, with its ``type``, ``version`` and ``payload`` fixed to that version's."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..core.service_settings import ServiceSettings
from ..products.event_payloads import PRODUCT_EVENTS
from .envelope import EventEnvelope
from .registry import EventRegistry, EventType, EventVersion
from .settings import EventSettings

DOCUMENT_PATH = Path("asyncapi.json")
CHANNEL = "productEvents"
SCHEMAS = "#/components/schemas/{model}"


def message_name(event_type: EventType, version: EventVersion) -> str:
    """``product.created`` v2 is ``productCreatedV2``."""
    words = event_type.name.replace("_", ".").split(".")
    return words[0] + "".join(word.capitalize() for word in words[1:]) + f"V{version.version}"


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _message(event_type: EventType, version: EventVersion) -> dict[str, Any]:
    description = f"`{event_type.name}` version {version.version}."
    if version is not event_type.latest:
        description += (
            f" No longer published; consumers still read it, upcast to version "
            f"{event_type.latest.version}."
        )
    return {
        "name": event_type.name,
        "title": f"{event_type.name} v{version.version}",
        "summary": _summary(version.model),
        "description": description,
        "contentType": "application/json",
        "payload": {
            "allOf": [
                {"$ref": SCHEMAS.format(model="EventEnvelope")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type.name},
                        "version": {"const": version.version},
                        "payload": {"$ref": SCHEMAS.format(model=version.model.__name__)},
                    },
                },
            ]
        },
    }


def asyncapi(registry: EventRegistry, *, title: str, version: str, stream: str) -> dict[str, Any]:
    described = registry.describe()
    messages = {
        message_name(event_type, event_version): _message(event_type, event_version)
        for event_type in described
        for event_version in event_type.versions
    }
    models = [EventEnvelope] + [v.model for t in described for v in t.versions]
    _, schemas = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMAS
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Product events, one Redis stream entry each: the `envelope` field holds the "
                "JSON envelope, `type` and `tenant` repeat its type and tenant."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            CHANNEL: {
                "address": stream,
                "description": "The Redis stream of product events (the key is a setting).",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            }
        },
        "operations": {
            "publishProductEvents": {
                "action": "send",
                "summary": "Every product change is published as an event.",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "messages": [
                    {"$ref": f"#/channels/{CHANNEL}/messages/{name}"} for name in messages
                ],
            }
        },
        "components": {"schemas": schemas["$defs"], "messages": messages},
    }


def asyncapi_document() -> str:
    """The document of the code with the default settings, whatever the environment."""
    service = ServiceSettings.model_construct()
    document = asyncapi(
        PRODUCT_EVENTS,
        title=f"{service.service_name} events",
        version=service.version,
        stream=EventSettings.model_construct().events_stream,
    )
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DOCUMENT_PATH.write_text(asyncapi_document(), encoding="utf-8")


if __name__ == "__main__":
    main()
