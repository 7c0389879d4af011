"""The event registry and envelope: what the service may publish, and how consumers decode
every version of an event as its latest one."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel

from ${{ values.packageName }}.core.correlation_id import correlation_id_var
from ${{ values.packageName }}.events.envelope import EventEnvelope, MalformedEventError
from ${{ values.packageName }}.events.registry import (
    EventRegistry,
    EventSchemaError,
    InvalidEventError,
    UnknownEventError,
)
from ${{ values.packageName }}.products.event_payloads import (
    PRODUCT_EVENTS,
    ProductCreatedV1,
    ProductCreatedV2,
    ProductDeletedV1,
    ProductUpdatedV1,
)
from ${{ values.packageName }}.products.models import Product, ProductStatus

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def a_product(price: str = "19.99", version: int = 1) -> Product:
    return Product(
        tenant_id="tenant-a",
        id=uuid4(),
        name="Lamp",
        description=None,
        price=Decimal(price),
        status=ProductStatus.ACTIVE,
        created_at=NOW,
        updated_at=NOW,
        version=version,
    )


def an_envelope(event_type: str, version: int, payload: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        id=uuid4(), type=event_type, version=version, time=NOW, tenant_id="t", payload=payload
    )


def test_envelope_carries_the_latest_version_and_the_request_context() -> None:
    product = a_product()
    token = correlation_id_var.set("corr-1")
    try:
        envelope = PRODUCT_EVENTS.envelope(ProductCreatedV2.of(product), product.tenant_id)
    finally:
        correlation_id_var.reset(token)

    assert (envelope.type, envelope.version) == ("product.created", 2)
    assert envelope.tenant_id == "tenant-a"
    assert envelope.correlation_id == "corr-1"
{% if not values.datadog %}
    assert envelope.trace_context == {}  # no tracing, nothing to propagate
{% endif %}
    assert envelope.payload["product_id"] == str(product.id)
    assert envelope.payload["price_cents"] == 1999
    assert envelope.time.tzinfo is UTC
    assert abs(datetime.now(UTC) - envelope.time) < timedelta(seconds=5)


def test_publishing_an_older_version_is_refused() -> None:
    old = ProductCreatedV1(
        product_id=uuid4(),
        name="Lamp",
        description=None,
        price="19.99",
        status=ProductStatus.ACTIVE,
        created_at=NOW,
    )
    with pytest.raises(EventSchemaError, match="published as v2, not v1"):
        PRODUCT_EVENTS.envelope(old, "t")


def test_publishing_an_unregistered_model_is_refused() -> None:
    class Stray(BaseModel):
        value: int

    with pytest.raises(EventSchemaError, match="Stray is not a registered event payload"):
        PRODUCT_EVENTS.envelope(Stray(value=1), "t")


def test_publishing_a_payload_that_breaks_its_schema_is_refused() -> None:
    # model_construct skips validation, as a bug in the service might.
    broken = ProductUpdatedV1.model_construct(
        **{**ProductUpdatedV1.of(a_product(version=2), ["name"]).model_dump(), "price_cents": -5}
    )
    with pytest.raises(EventSchemaError, match="price_cents"):
        PRODUCT_EVENTS.envelope(broken, "t")


def test_a_v1_event_is_decoded_as_v2_through_the_upcaster() -> None:
    product_id = uuid4()
    v1 = an_envelope(
        "product.created",
        1,
        {
            "product_id": str(product_id),
            "name": "Lamp",
            "description": "Bright",
            "price": "1234.50",
            "status": "draft",
            "created_at": NOW.isoformat(),
        },
    )

    decoded = PRODUCT_EVENTS.decode(v1)

    assert decoded == ProductCreatedV2(
        product_id=product_id,
        name="Lamp",
        description="Bright",
        price_cents=123450,
        status=ProductStatus.DRAFT,
        created_at=NOW,
    )


@pytest.mark.parametrize(
    "payload",
    [
        ProductCreatedV2.of(a_product("0.01")),
        ProductUpdatedV1.of(a_product(version=3), ["price", "name"]),
        ProductDeletedV1(product_id=uuid4(), deleted_at=NOW),
    ],
)
def test_latest_versions_decode_to_what_was_published(payload: BaseModel) -> None:
    envelope = PRODUCT_EVENTS.envelope(payload, "t")
    through_the_stream = EventEnvelope.from_fields(envelope.to_fields())

    assert PRODUCT_EVENTS.decode(through_the_stream) == payload


@pytest.mark.parametrize(
    ("event_type", "version", "message"),
    [
        ("product.renamed", 1, "unknown event type 'product.renamed'"),
        ("product.created", 3, "unknown version 3 of product.created"),
        ("product.deleted", 2, "unknown version 2 of product.deleted"),
    ],
)
def test_unknown_types_and_versions_are_named(event_type: str, version: int, message: str) -> None:
    with pytest.raises(UnknownEventError, match=message):
        PRODUCT_EVENTS.decode(an_envelope(event_type, version, {}))


@pytest.mark.parametrize(
    ("version", "payload", "field"),
    [
        (1, {"product_id": "not-a-uuid"}, "product_id"),
        (
            2,
            {
                "product_id": str(uuid4()),
                "name": "x",
                "description": None,
                "price": "1.00",
                "status": "active",
                "created_at": NOW.isoformat(),
            },
            "price_cents",
        ),
    ],
)
def test_payloads_that_break_their_version_are_invalid(
    version: int, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEventError, match=f"product.created v{version}: {field}"):
        PRODUCT_EVENTS.decode(an_envelope("product.created", version, payload))


def test_versions_register_in_order_and_upcasters_after_their_target() -> None:
    class V1(BaseModel):
        a: int

    class V2(BaseModel):
        b: int

    def upcast(old: V1) -> V2:
        return V2(b=old.a)

    registry = EventRegistry()
    with pytest.raises(ValueError, match="the next version to register is 1"):
        registry.register("thing.done", 2, V2)
    registry.register("thing.done", 1, V1)
    with pytest.raises(ValueError, match="register v2 before its upcaster"):
        registry.register_upcaster("thing.done", 1, upcast)
    with pytest.raises(ValueError, match="V1 is already the payload"):
        registry.register("thing.undone", 1, V1)


def test_a_missing_upcaster_makes_older_versions_unknown() -> None:
    class V1(BaseModel):
        a: int

    class V2(BaseModel):
        b: int

    registry = EventRegistry()
    registry.register("thing.done", 1, V1)
    registry.register("thing.done", 2, V2)

    with pytest.raises(UnknownEventError, match=r"no upcaster from v1 of thing\.done"):
        registry.decode(an_envelope("thing.done", 1, {"a": 1}))


def test_describe_lists_every_type_and_version() -> None:
    described = {
        event_type.name: [(v.version, v.model.__name__, v.upcast) for v in event_type.versions]
        for event_type in PRODUCT_EVENTS.describe()
    }

    assert described == {
        "product.created": [(1, "ProductCreatedV1", True), (2, "ProductCreatedV2", False)],
        "product.updated": [(1, "ProductUpdatedV1", False)],
        "product.deleted": [(1, "ProductDeletedV1", False)],
    }


def test_envelope_time_is_kept_in_utc() -> None:
    envelope = an_envelope("product.deleted", 1, {}).model_copy(
        update={"time": NOW.astimezone(timezone(timedelta(hours=2)))}
    )
    parsed = EventEnvelope.model_validate_json(envelope.model_dump_json())

    assert parsed.time == NOW
    assert parsed.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "product.created"}, "the entry has no 'envelope' field"),
        ({"envelope": "{not json"}, "envelope: Invalid JSON"),
        ({"envelope": '{"id": "x"}'}, "id: Input should be a valid UUID"),
    ],
)
def test_malformed_entries_are_named(fields: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedEventError, match=message):
        EventEnvelope.from_fields(fields)


def test_envelope_refuses_unknown_fields() -> None:
    envelope = an_envelope("product.deleted", 1, {})
    text = envelope.model_dump_json()[:-1] + ', "extra": 1}'

    with pytest.raises(MalformedEventError, match="extra: Extra inputs are not permitted"):
        EventEnvelope.from_fields({"envelope": text})
