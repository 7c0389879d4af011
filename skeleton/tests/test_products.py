"""The products API: CRUD, tenancy, versions and input rules."""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.errors import ConflictError, PreconditionFailedError
from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER
from ${{ values.packageName }}.products.dependencies import (
    get_product_repository,
)
from ${{ values.packageName }}.products.models import Product, ProductStatus
from ${{ values.packageName }}.products.pagination import Page, PageRequest
from ${{ values.packageName }}.products.repository import (
    StaleProductError,
)
from ${{ values.packageName }}.products.schemas import ProductRead, ProductUpdate
from ${{ values.packageName }}.products.service import ProductService
{% if values.sqlDatabase %}

pytestmark = pytest.mark.database
{% endif %}

BASE = "/api/v1/products"


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Widget", "price": "9.99", **fields}
    response = client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_returns_201_with_location(client: TestClient) -> None:
    response = client.post(
        BASE, json={"name": "Widget", "description": "A widget", "price": "19.90"}
    )

    assert response.status_code == 201
    body = response.json()
    UUID(body["id"])
    assert body["name"] == "Widget"
    assert body["description"] == "A widget"
    assert body["price"] == "19.90"
    assert body["status"] == "draft"
    assert body["created_at"] == body["updated_at"]
    assert response.headers["Location"].endswith(f"{BASE}/{body['id']}")
    assert client.get(response.headers["Location"]).json() == body


def test_get_unknown_product_is_404(client: TestClient) -> None:
    response = client.get(f"{BASE}/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_get_with_malformed_id_is_422(client: TestClient) -> None:
    assert client.get(f"{BASE}/not-a-uuid").status_code == 422


def test_patch_changes_only_given_fields(client: TestClient) -> None:
    product = create(client, description="old")

    response = client.patch(f"{BASE}/{product['id']}", json={"price": "5.00", "status": "active"})

    assert response.status_code == 200
    body = response.json()
    assert body["price"] == "5.00"
    assert body["status"] == "active"
    assert body["name"] == "Widget"
    assert body["description"] == "old"
    assert body["updated_at"] >= product["updated_at"]
    assert client.get(f"{BASE}/{product['id']}").json() == body


def test_patch_can_clear_description(client: TestClient) -> None:
    product = create(client, description="old")

    body = client.patch(f"{BASE}/{product['id']}", json={"description": None}).json()

    assert body["description"] is None


@pytest.mark.parametrize("field", ["name", "price", "status"])
def test_patch_refuses_null_for_required_fields(client: TestClient, field: str) -> None:
    product = create(client)

    response = client.patch(f"{BASE}/{product['id']}", json={field: None})

    assert response.status_code == 422
    (detail,) = response.json()["details"]
    assert (detail["location"], detail["field"]) == ("body", field)


def test_patch_unknown_product_is_404(client: TestClient) -> None:
    response = client.patch(f"{BASE}/00000000-0000-0000-0000-000000000000", json={"name": "x"})

    assert response.status_code == 404


def test_delete_is_204_then_404(client: TestClient) -> None:
    product = create(client)

    deleted = client.delete(f"{BASE}/{product['id']}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"{BASE}/{product['id']}").status_code == 404
    assert client.delete(f"{BASE}/{product['id']}").status_code == 404


def test_unknown_fields_are_rejected(client: TestClient) -> None:
    created = client.post(BASE, json={"name": "x", "price": "1", "colour": "red"})
    product = create(client)
    patched = client.patch(f"{BASE}/{product['id']}", json={"id": "nope"})

    assert created.status_code == 422
    assert created.json()["details"][0]["field"] == "colour"
    assert patched.status_code == 422


@pytest.mark.parametrize(
    "price",
    ["0", "-1", "0.00", "1.234", "abc", "NaN", "Infinity", None, "1e2", " 1", "+1", "12345678901"],
)
def test_price_rules_reject(client: TestClient, price: Any) -> None:
    response = client.post(BASE, json={"name": "x", "price": price})

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("price", "stored"),
    [
        ("0.01", "0.01"),
        ("12.5", "12.50"),
        (3, "3.00"),
        (7.5, "7.50"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_price_rules_accept(client: TestClient, price: Any, stored: str) -> None:
    assert create(client, price=price)["price"] == stored


@pytest.mark.parametrize(("price", "canonical"), [(5, "5.00"), (7.5, "7.50"), ("7.50", "7.50")])
def test_price_reads_back_in_one_form_everywhere(
    client: TestClient, price: Any, canonical: str
) -> None:
    """Two decimal places, as a string, whether the price was written as 5, 7.5 or "7.50"
    and whichever way it is read back."""
    created = create(client, price=price)
    url = f"{BASE}/{created['id']}"
    fetched = client.get(url).json()
    listed = [item for item in client.get(BASE).json()["items"] if item["id"] == created["id"]]
    renamed = client.patch(url, json={"name": "renamed"}).json()
    repriced = client.patch(url, json={"price": price}).json()
    refetched = client.get(url).json()

    prices = [created, fetched, *listed, renamed, repriced, refetched]
    assert [body["price"] for body in prices] == [canonical] * 6


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 256},
        {"description": "x" * 2001},
        {"name": "nul\x00"},
        {"description": "nul\x00"},
        {"status": "sold"},
    ],
)
def test_field_rules_reject(client: TestClient, fields: dict[str, Any]) -> None:
    response = client.post(BASE, json={"name": "x", "price": "1", **fields})

    assert response.status_code == 422


@pytest.mark.parametrize("name", [" ", "\t\n", "\u3000\xa0", "\x1c"])
def test_blank_names_are_refused_on_create_and_update(client: TestClient, name: str) -> None:
    product = create(client)

    created = client.post(BASE, json={"name": name, "price": "1"})
    updated = client.patch(f"{BASE}/{product['id']}", json={"name": name})

    for response in (created, updated):
        assert response.status_code == 422
        (detail,) = response.json()["details"]
        assert (detail["location"], detail["field"]) == ("body", "name")
    assert client.get(f"{BASE}/{product['id']}").json()["name"] == "Widget"


def test_names_are_stored_stripped_on_create_and_update(client: TestClient) -> None:
    product = create(client, name="  Widget \n")

    updated = client.patch(f"{BASE}/{product['id']}", json={"name": "\tGadget  "}).json()

    assert product["name"] == "Widget"
    assert updated["name"] == "Gadget"
    assert client.get(f"{BASE}/{product['id']}").json()["name"] == "Gadget"


def test_field_limits_accept(client: TestClient) -> None:
    body = create(client, name="x" * 255, description="d" * 2000)

    assert len(body["name"]) == 255


{% if values.auth != 'jwt' %}
def test_missing_tenant_is_400(client: TestClient) -> None:
    response = client.get(BASE, headers={TENANT_ID_HEADER: ""})
    del client.headers[TENANT_ID_HEADER]
    missing = client.post(BASE, json={"name": "x", "price": "1"})

    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_TENANT"
    assert missing.status_code == 400
    assert missing.json()["error"] == "TENANT_REQUIRED"
    assert missing.json()["correlation_id"] == missing.headers["X-Correlation-ID"]


@pytest.mark.parametrize("tenant", ["-leading-dash", "a b", "x" * 101, "tenant/a", "a:b"])
def test_malformed_tenant_is_400(client: TestClient, tenant: str) -> None:
    response = client.get(BASE, headers={TENANT_ID_HEADER: tenant})

    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_TENANT"


{% endif %}
def test_tenant_header_sent_twice_is_400(client: TestClient) -> None:
    twice = [(TENANT_ID_HEADER, "tenant-a"), (TENANT_ID_HEADER, "tenant-b")]

    listed = client.get(BASE, headers=twice)
    created = client.post(BASE, json={"name": "x", "price": "1"}, headers=twice)

    for response in (listed, created):
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "DUPLICATE_HEADER"
        assert body["message"] == (
            f"The {TENANT_ID_HEADER} header must be sent once; this request sent it more than once."
        )
        assert body["details"] == {"field": TENANT_ID_HEADER}
    assert client.get(BASE).json()["items"] == []


def test_other_tenants_product_is_404(
    client: TestClient, tenant_headers: Callable[[str], dict[str, str]]
) -> None:
    product = create(client)
    url = f"{BASE}/{product['id']}"
    other = tenant_headers("tenant-b")

    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "stolen"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get(BASE, headers=other).json()["items"] == []
    assert client.get(url).json() == product


# Fields the server owns: a body that sets one is refused whole, so nothing is half-applied.
SERVER_OWNED_FIELDS = {
    "id": "00000000-0000-0000-0000-000000000001",
    "tenant_id": "tenant-b",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "version": 99,
    "role": "admin",
}


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED_FIELDS.items())
def test_mass_assignment_is_refused_on_create(client: TestClient, field: str, value: Any) -> None:
    response = client.post(BASE, json={"name": "Widget", "price": "9.99", field: value})

    assert response.status_code == 422
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert [problem["field"] for problem in response.json()["details"]] == [field]
    assert client.get(BASE).json()["items"] == []


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED_FIELDS.items())
def test_mass_assignment_is_refused_on_update(client: TestClient, field: str, value: Any) -> None:
    product = create(client)

    response = client.patch(f"{BASE}/{product['id']}", json={"name": "renamed", field: value})

    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["details"]] == [field]
    assert client.get(f"{BASE}/{product['id']}").json() == product


def test_update_increments_version(client: TestClient) -> None:
    product = create(client)

    first = client.patch(f"{BASE}/{product['id']}", json={"name": "one"}).json()
    second = client.patch(f"{BASE}/{product['id']}", json={"name": "two"}).json()

    assert (product["version"], first["version"], second["version"]) == (1, 2, 3)


def test_a_price_stored_with_fewer_places_reads_in_cents() -> None:
    """As stored before prices were kept in cents (5, not 5.00)."""
    product = dataclasses.replace(StaleStore().product, price=Decimal("5"))

    assert ProductRead.from_domain(product).model_dump(mode="json")["price"] == "5.00"


def test_etag_is_the_version_on_create_get_and_patch(client: TestClient) -> None:
    created = client.post(BASE, json={"name": "Widget", "price": "9.99"})
    url = created.headers["Location"]
{% if values.cache == 'elasticache-redis' %}
    before = client.get(url)  # cached
{% else %}
    before = client.get(url)
{% endif %}
    patched = client.patch(url, json={"name": "renamed"})
    after = client.get(url)

    assert created.headers["ETag"] == before.headers["ETag"] == '"1"'
    assert patched.headers["ETag"] == after.headers["ETag"] == '"2"'
    assert after.json() == patched.json()


def test_if_match_stops_a_lost_update(client: TestClient) -> None:
    url = client.post(BASE, json={"name": "Widget", "price": "9.99"}).headers["Location"]
    alice = client.get(url).headers["ETag"]
    bob = client.get(url).headers["ETag"]

    first = client.patch(url, json={"name": "alice"}, headers={"If-Match": alice})
    second = client.patch(url, json={"name": "bob"}, headers={"If-Match": bob})

    assert first.status_code == 200
    assert first.headers["ETag"] != alice
    assert second.status_code == 412
    assert second.json()["error"] == "PRECONDITION_FAILED"
    assert second.json()["correlation_id"] == second.headers["X-Correlation-ID"]
    kept = client.get(url)
    assert kept.json() == first.json()
    assert kept.headers["ETag"] == first.headers["ETag"]


def test_delete_with_a_stale_if_match_is_412(client: TestClient) -> None:
    url = client.post(BASE, json={"name": "Widget", "price": "9.99"}).headers["Location"]
    stale = client.get(url).headers["ETag"]
    current = client.patch(url, json={"name": "changed"}).headers["ETag"]

    refused = client.delete(url, headers={"If-Match": stale})
    still_there = client.get(url)
    deleted = client.delete(url, headers={"If-Match": current})

    assert refused.status_code == 412
    assert refused.json()["error"] == "PRECONDITION_FAILED"
    assert still_there.json()["name"] == "changed"
    assert deleted.status_code == 204
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [('"1"', 200), ('"2"', 412), ("*", 200), ('"7", "1"', 200), ('W/"1"', 412), ("1", 412)],
)
def test_if_match_forms(client: TestClient, if_match: str, expected: int) -> None:
    """Strong comparison: a weak or unquoted tag matches nothing; * matches any version."""
    changed, removed = (create(client)["id"] for _ in range(2))  # both at version 1

    patched = client.patch(f"{BASE}/{changed}", json={"name": "x"}, headers={"If-Match": if_match})
    deleted = client.delete(f"{BASE}/{removed}", headers={"If-Match": if_match})

    assert patched.status_code == expected
    assert deleted.status_code == (204 if expected == 200 else 412)


def test_if_match_on_a_missing_product_is_404(client: TestClient) -> None:
    url = f"{BASE}/00000000-0000-0000-0000-000000000000"

    assert client.patch(url, json={"name": "x"}, headers={"If-Match": "*"}).status_code == 404
    assert client.delete(url, headers={"If-Match": '"1"'}).status_code == 404


class StaleStore:
    """A repository whose stored product changes between the service's read and write."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.product = Product(
            tenant_id="t",
            id=uuid4(),
            name="n",
            description=None,
            price=Decimal("1.00"),
            status=ProductStatus.DRAFT,
            created_at=now,
            updated_at=now,
        )

    async def add(self, product: Product${{ ', event: object = None' if values.events == 'redis-streams' else '' }}) -> None:
        raise AssertionError("not used")

    async def get(self, tenant_id: str, product_id: UUID) -> Product | None:
        return self.product

    async def list_page(self, tenant_id: str, request: PageRequest) -> Page:
        raise AssertionError("not used")

    async def replace(self, product: Product${{ ', event: object = None' if values.events == 'redis-streams' else '' }}) -> bool:
        raise StaleProductError(product.id)

{% if values.events == 'redis-streams' %}
    async def delete(
        self, tenant_id: str, product_id: UUID, version: int | None = None, event: object = None
    ) -> bool:
{% else %}
    async def delete(self, tenant_id: str, product_id: UUID, version: int | None = None) -> bool:
{% endif %}
        if version is not None:
            raise StaleProductError(product_id)
        return True


@pytest.mark.anyio
async def test_concurrent_update_is_a_conflict() -> None:
    store = StaleStore()
    service = ProductService(store)

    with pytest.raises(ConflictError) as raised:
        await service.update("t", store.product.id, ProductUpdate(name="late"))

    assert raised.value.status_code == 409


@pytest.mark.anyio
async def test_if_match_is_checked_by_the_write_itself() -> None:
    """The version If-Match named was read, but another request changed or deleted the
    product before the write: the conditional write refuses it, 412 and not 409."""
    store = StaleStore()
    service = ProductService(store)
    expected = frozenset({store.product.version})

    with pytest.raises(PreconditionFailedError):
        await service.update("t", store.product.id, ProductUpdate(name="late"), expected)
    with pytest.raises(PreconditionFailedError):
        await service.delete("t", store.product.id, expected)


def test_repository_can_be_swapped(client: TestClient, app: FastAPI) -> None:
    store = StaleStore()
    app.dependency_overrides[get_product_repository] = lambda: store
    try:
        body = client.get(f"{BASE}/{store.product.id}").json()
        conflict = client.patch(f"{BASE}/{store.product.id}", json={"name": "late"})
    finally:
        app.dependency_overrides.clear()

    assert body["id"] == str(store.product.id)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "CONFLICT"
