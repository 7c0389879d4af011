"""Event types, the payload schema of each version, and the upcasters that turn a payload of
one version into the next, so that a consumer written for the latest version also handles
the older events still in the stream."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ValidationError

from ..core.correlation_id import get_correlation_id
{% if values.traced %}
from ..core.tracing import current_trace_headers
{% endif %}
from .envelope import EventEnvelope

Old = TypeVar("Old", bound=BaseModel)
New = TypeVar("New", bound=BaseModel)


class EventSchemaError(Exception):
    """The service tried to publish a payload its registry does not allow: a bug."""


class UnknownEventError(Exception):
    """An event of a type, or a version of it, that the registry does not know."""


class InvalidEventError(Exception):
    """An event whose payload does not match the schema of its version."""


@dataclass(frozen=True, slots=True)
class EventVersion:
    version: int
    model: type[BaseModel]
    # Older events of this type are upcast through this version (there is an upcaster from it).
    upcast: bool


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    versions: tuple[EventVersion, ...]

    @property
    def latest(self) -> EventVersion:
        return self.versions[-1]


def _first_error(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "payload"
    return f"{where}: {problem['msg']}"


class EventRegistry:
    """Versions of a type are registered in order from 1; the last one is what the service
    publishes. An upcaster from version n returns the payload as version n + 1."""

    def __init__(self) -> None:
        self._models: dict[str, list[type[BaseModel]]] = {}
        self._upcasters: dict[tuple[str, int], Callable[[Any], BaseModel]] = {}
        self._keys: dict[type[BaseModel], tuple[str, int]] = {}

    def register(self, event_type: str, version: int, model: type[BaseModel]) -> None:
        models = self._models.setdefault(event_type, [])
        if version != len(models) + 1:
            raise ValueError(
                f"{event_type} v{version}: the next version to register is {len(models) + 1}"
            )
        if model in self._keys:
            raise ValueError(f"{model.__name__} is already the payload of another event version")
        models.append(model)
        self._keys[model] = (event_type, version)

    def register_upcaster(
        self, event_type: str, from_version: int, upcast: Callable[[Old], New]
    ) -> None:
        if from_version + 1 > len(self._models.get(event_type, [])):
            raise ValueError(f"{event_type}: register v{from_version + 1} before its upcaster")
        self._upcasters[(event_type, from_version)] = upcast

    def envelope(self, payload: BaseModel, tenant_id: str) -> EventEnvelope:
        """The envelope of a new event, with the current request's correlation ID and trace
        context. The payload must be the latest version of its type, and valid."""
        key = self._keys.get(type(payload))
        if key is None:
            raise EventSchemaError(f"{type(payload).__name__} is not a registered event payload")
        event_type, version = key
        latest = len(self._models[event_type])
        if version != latest:
            raise EventSchemaError(f"{event_type} is published as v{latest}, not v{version}")
        data = payload.model_dump(mode="json")
        try:
            # Again: a model built with model_construct() or changed after validation
            # would otherwise reach the stream unchecked.
            type(payload).model_validate(data)
        except ValidationError as error:
            raise EventSchemaError(f"{event_type} v{version}: {_first_error(error)}") from None
        return EventEnvelope(
            id=uuid4(),
            type=event_type,
            version=version,
            time=datetime.now(UTC),
            tenant_id=tenant_id,
            correlation_id=get_correlation_id(),
{% if values.traced %}
            trace_context=current_trace_headers(),
{% endif %}
            payload=data,
        )

    def decode(self, envelope: EventEnvelope) -> BaseModel:
        """The payload as the latest version of its type."""
        models = self._models.get(envelope.type)
        if models is None:
            raise UnknownEventError(f"unknown event type {envelope.type!r}")
        if envelope.version > len(models):
            raise UnknownEventError(f"unknown version {envelope.version} of {envelope.type}")
        try:
            payload = models[envelope.version - 1].model_validate(envelope.payload)
        except ValidationError as error:
            raise InvalidEventError(
                f"{envelope.type} v{envelope.version}: {_first_error(error)}"
            ) from None
        for version in range(envelope.version, len(models)):
            upcast = self._upcasters.get((envelope.type, version))
            if upcast is None:
                raise UnknownEventError(f"no upcaster from v{version} of {envelope.type}")
            try:
                payload = upcast(payload)
            except (ValueError, ValidationError) as error:
                raise InvalidEventError(
                    f"{envelope.type} v{version} cannot be upcast: {error}"
                ) from None
        return payload

    def describe(self) -> list[EventType]:
        """Every type with its versions, oldest first (for the AsyncAPI document)."""
        return [
            EventType(
                name,
                tuple(
                    EventVersion(number, model, (name, number) in self._upcasters)
                    for number, model in enumerate(models, start=1)
                ),
            )
            for name, models in self._models.items()
        ]
