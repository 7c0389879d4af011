"""Every product change publishes its event through the service: created, updated and
deleted, in order, each in the envelope of the request that made it. A change that is
refused publishes nothing. The stream is the in-process one (no Redis URL){% if values.database != 'none' %}, fed by the
outbox relay{% endif %}."""

import time
{% if values.database == 'none' %}
from collections.abc import Callable
{% endif %}
from typing import Any

from fastapi.testclient import TestClient

{% if values.database == 'none' %}
from conftest import free_port
from ${{ values.packageName }}.core.config import Settings
{% endif %}
from ${{ values.packageName }}.deps import services_of
from ${{ values.packageName }}.events.envelope import EventEnvelope
{% if values.database == 'none' %}
from ${{ values.packageName }}.main import create_app
{% endif %}
from ${{ values.packageName }}.products.event_payloads import (
    PRODUCT_EVENTS,
    ProductCreatedV2,
    ProductDeletedV1,
    ProductUpdatedV1,
)

BASE = "/api/v1/products"
TENANT_ID = "tenant-a"


def published(client: TestClient, count: int, timeout: float = 5.0) -> list[EventEnvelope]:
    """The stream's events once it holds ``count`` (the relay may take a moment)."""
    stream = services_of(client.app).event_stream  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while True:
        entries = client.portal.call(stream.range, "-", "+", 100)  # type: ignore[union-attr]
        if len(entries) >= count or time.monotonic() > deadline:
            return [EventEnvelope.from_fields(entry.fields) for entry in entries]
        time.sleep(0.02)


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(BASE, json={"name": "Lamp", "price": "19.90", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_update_delete_publish_their_events_in_order(client: TestClient) -> None:
    created = create(client, description="Bright")
    product_id = created["id"]
    updated = client.patch(f"{BASE}/{product_id}", json={"name": "Desk lamp"})
    deleted = client.delete(f"{BASE}/{product_id}")
    assert (updated.status_code, deleted.status_code) == (200, 204)

    events = published(client, 3)

    assert [event.type for event in events] == [
        "product.created",
        "product.updated",
        "product.deleted",
    ]
    assert {event.tenant_id for event in events} == {TENANT_ID}
    assert len({event.id for event in events}) == 3
    creation = PRODUCT_EVENTS.decode(events[0])
    assert isinstance(creation, ProductCreatedV2)
    assert (str(creation.product_id), creation.price_cents) == (product_id, 1990)
    assert creation.description == "Bright"
    change = PRODUCT_EVENTS.decode(events[1])
    assert isinstance(change, ProductUpdatedV1)
    assert (change.name, change.version, change.changed) == ("Desk lamp", 2, ["name"])
    removal = PRODUCT_EVENTS.decode(events[2])
    assert isinstance(removal, ProductDeletedV1)
    assert str(removal.product_id) == product_id
    assert removal.deleted_at >= change.updated_at


def test_events_carry_the_request_correlation_id(client: TestClient) -> None:
    response = client.post(
        BASE, json={"name": "Lamp", "price": "1.00"}, headers={"X-Correlation-ID": "order-42"}
    )
    assert response.status_code == 201

    [event] = published(client, 1)

    assert event.correlation_id == "order-42"


def test_refused_changes_publish_nothing(client: TestClient) -> None:
    stored = create(client)
    missing = "00000000-0000-4000-8000-000000000000"
    refused = [
        client.post(BASE, json={"name": " ", "price": "1.00"}).status_code,
        client.patch(f"{BASE}/{missing}", json={"name": "x"}).status_code,
        client.delete(f"{BASE}/{missing}").status_code,
        client.patch(
            f"{BASE}/{stored['id']}", json={"name": "x"}, headers={"If-Match": '"7"'}
        ).status_code,
    ]
    assert refused == [422, 404, 404, 412]
    # A fence: the events arrive in order, so once its event is in, any earlier one is too.
    fence = create(client)

    events = published(client, 2)

    assert [(event.type, event.payload["product_id"]) for event in events] == [
        ("product.created", stored["id"]),
        ("product.created", fence["id"]),
    ]
{% if values.database == 'none' %}


def test_an_unreachable_stream_loses_the_event_but_not_the_change(
    base_env: Callable[[str, str], None],
    tenant_headers: Callable[[str], dict[str, str]],
    read_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    base_env("EVENTS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(Settings())
    with TestClient(
        app, raise_server_exceptions=False, headers=tenant_headers(TENANT_ID)
    ) as client:
        created = create(client)
        assert client.get(f"{BASE}/{created['id']}").status_code == 200

    lost = [
        line for line in read_logs() if line["event"] == "event lost: the stream is unreachable"
    ]
    assert [(line["event_type"], line["error"]) for line in lost] == [
        ("product.created", "ConnectionError")
    ]
{% endif %}
