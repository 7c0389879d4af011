"""The products API: CRUD, pagination, filtering and input rules."""

from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.products.dependencies import (
    get_product_repository,
)
from ${{ values.packageName }}.products.memory import (
    InMemoryProductRepository,
)

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

    response = client.patch(f"{BASE}/{product['id']}", json={"price": "5", "status": "active"})

    assert response.status_code == 200
    body = response.json()
    assert body["price"] == "5"
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


def test_list_empty(client: TestClient) -> None:
    response = client.get(BASE)

    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
        "total_pages": 0,
    }


def test_list_pages(client: TestClient) -> None:
    names = [f"p{index}" for index in range(5)]
    for name in names:
        create(client, name=name)

    first = client.get(BASE, params={"page": 1, "page_size": 2}).json()
    last = client.get(BASE, params={"page": 3, "page_size": 2}).json()
    past_end = client.get(BASE, params={"page": 4, "page_size": 2}).json()

    assert [item["name"] for item in first["items"]] == ["p0", "p1"]
    assert first["total"] == 5
    assert first["total_pages"] == 3
    assert [item["name"] for item in last["items"]] == ["p4"]
    assert past_end["items"] == []
    assert past_end["total"] == 5
    assert past_end["page"] == 4


def test_list_filters_by_status(client: TestClient) -> None:
    create(client, name="a", status="active")
    create(client, name="d")
    create(client, name="b", status="active")

    body = client.get(BASE, params={"status": "active"}).json()

    assert [item["name"] for item in body["items"]] == ["a", "b"]
    assert body["total"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 101},
        {"page": 0},
        {"page": -1},
        {"status": "sold"},
    ],
)
def test_list_rejects_bad_parameters(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get(BASE, params=params)

    assert response.status_code == 422
    assert response.json()["error"] == "VALIDATION_ERROR"


def test_list_accepts_page_size_bounds(client: TestClient) -> None:
    assert client.get(BASE, params={"page_size": 1}).status_code == 200
    assert client.get(BASE, params={"page_size": 100}).status_code == 200


def test_unknown_fields_are_rejected(client: TestClient) -> None:
    created = client.post(BASE, json={"name": "x", "price": "1", "colour": "red"})
    product = create(client)
    patched = client.patch(f"{BASE}/{product['id']}", json={"id": "nope"})

    assert created.status_code == 422
    assert created.json()["details"][0]["field"] == "colour"
    assert patched.status_code == 422


@pytest.mark.parametrize("price", ["0", "-1", "0.00", "1.234", "abc", "NaN", "Infinity", None])
def test_price_rules_reject(client: TestClient, price: Any) -> None:
    response = client.post(BASE, json={"name": "x", "price": price})

    assert response.status_code == 422


@pytest.mark.parametrize(("price", "stored"), [("0.01", "0.01"), ("12.5", "12.5"), (3, "3")])
def test_price_rules_accept(client: TestClient, price: Any, stored: str) -> None:
    assert create(client, price=price)["price"] == stored


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 256},
        {"description": "x" * 2001},
        {"status": "sold"},
    ],
)
def test_field_rules_reject(client: TestClient, fields: dict[str, Any]) -> None:
    response = client.post(BASE, json={"name": "x", "price": "1", **fields})

    assert response.status_code == 422


def test_field_limits_accept(client: TestClient) -> None:
    body = create(client, name="x" * 255, description="d" * 2000)

    assert len(body["name"]) == 255


def test_repository_can_be_swapped(client: TestClient, app: FastAPI) -> None:
    replacement = InMemoryProductRepository()
    app.dependency_overrides[get_product_repository] = lambda: replacement
    try:
        create(client)
    finally:
        app.dependency_overrides.clear()

    assert client.get(BASE).json()["total"] == 0
