"""The envelope every event travels in: the same fields for every type and version; the
payload is checked against its schema by the registry (``events.registry``)."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


class MalformedEventError(ValueError):
    """A stream entry that does not hold an envelope."""


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class EventEnvelope(BaseModel):
    """``trace_context`` holds the trace propagation headers of the request that published
    the event (empty without tracing); ``payload`` is the JSON of the type's ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    type: Annotated[str, Field(min_length=1)]
    version: Annotated[int, Field(ge=1)]
    time: Annotated[AwareDatetime, AfterValidator(_as_utc)]
    tenant_id: Annotated[str, Field(min_length=1)]
    correlation_id: str | None = None
    trace_context: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, Any]

    def to_fields(self) -> dict[str, str]:
        """The fields of its stream entry: the envelope, and its type and tenant again so
        that readers can skip entries without parsing them."""
        return {"envelope": self.model_dump_json(), "type": self.type, "tenant": self.tenant_id}

    @staticmethod
    def fields_of(envelope_json: str) -> dict[str, str]:
        """``to_fields`` of an envelope already serialised (as the outbox keeps it), without
        validating it again: it was valid when it was written."""
        envelope = json.loads(envelope_json)
        return {
            "envelope": envelope_json,
            "type": envelope["type"],
            "tenant": envelope["tenant_id"],
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Self:
        """The envelope of a stream entry; ``MalformedEventError`` naming what is wrong."""
        text = fields.get("envelope")
        if text is None:
            raise MalformedEventError("the entry has no 'envelope' field")
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "envelope"
            raise MalformedEventError(f"{where}: {problem['msg']}") from None
