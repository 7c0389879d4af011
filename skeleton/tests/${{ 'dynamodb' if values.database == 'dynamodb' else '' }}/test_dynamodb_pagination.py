"""Cursor pagination of the products listing on DynamoDB (the moto server of conftest)."""

import base64
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

BASE = "/api/v1/products"
OTHER_TENANT = "tenant-b"


def create(client: TestClient, headers: dict[str, str] | None = None, **fields: Any) -> str:
    response = client.post(BASE, json={"name": "Widget", "price": "1", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    product_id: str = response.json()["id"]
    return product_id


def pages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    result = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(BASE, params=query)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        result.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return result


def ids(listing: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for page in listing for item in page["items"]]


def encode(key: object) -> str:
    """A cursor in the service's own spelling (sorted keys, compact JSON)."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_empty_listing_is_one_page_without_cursor(client: TestClient) -> None:
    assert client.get(BASE).json() == {"items": [], "page_size": 20, "next_cursor": None}


@pytest.mark.parametrize(("count", "sizes"), [(1, [1]), (4, [2, 2]), (5, [2, 2, 1])])
def test_pages_cover_every_product_once(client: TestClient, count: int, sizes: list[int]) -> None:
    created = {create(client) for _ in range(count)}

    listing = pages(client, page_size=2)

    assert [len(page["items"]) for page in listing] == sizes
    assert all(page["next_cursor"] for page in listing[:-1])
    assert listing[-1]["next_cursor"] is None
    assert sorted(ids(listing)) == sorted(created)


@pytest.mark.parametrize(("page_size", "status_code"), [(0, 422), (1, 200), (100, 200), (101, 422)])
def test_page_size_bounds(client: TestClient, page_size: int, status_code: int) -> None:
    assert client.get(BASE, params={"page_size": page_size}).status_code == status_code


def test_status_filter_reads_the_index(client: TestClient) -> None:
    active = {create(client, status="active") for _ in range(3)}
    create(client)
    create(client)

    listing = pages(client, status="active", page_size=2)

    assert [len(page["items"]) for page in listing] == [2, 1]
    assert set(ids(listing)) == active
    assert all(item["status"] == "active" for page in listing for item in page["items"])
    assert ids(pages(client, status="discontinued")) == []


def test_status_change_moves_a_product_between_filtered_listings(client: TestClient) -> None:
    product_id = create(client)

    client.patch(f"{BASE}/{product_id}", json={"status": "active"})

    assert ids(pages(client, status="active")) == [product_id]
    assert ids(pages(client, status="draft")) == []


def test_listing_shows_only_the_tenants_products(
    client: TestClient, tenant_headers: Callable[[str], dict[str, str]]
) -> None:
    own = {create(client) for _ in range(3)}
    create(client, headers=tenant_headers(OTHER_TENANT))
    create(client, headers=tenant_headers(OTHER_TENANT), status="active")

    assert set(ids(pages(client, page_size=1))) == own
    assert ids(pages(client, status="active")) == []


def first_cursor(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> str:
    """The next_cursor of a first page of one product, after creating two."""
    for _ in range(2):
        create(client, headers=headers, status=params.get("status", "draft"))
    cursor: str = client.get(BASE, params={**params, "page_size": 1}, headers=headers).json()[
        "next_cursor"
    ]
    assert cursor
    return cursor


def assert_invalid_cursor(client: TestClient, cursor: str, **params: Any) -> None:
    response = client.get(BASE, params={**params, "cursor": cursor})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "INVALID_CURSOR"
    assert body["correlation_id"] == response.headers["X-Correlation-ID"]


def test_a_cursor_continues_its_own_listing(client: TestClient) -> None:
    cursor = first_cursor(client)

    response = client.get(BASE, params={"cursor": cursor, "page_size": 1})

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        encode(["tenant-a"]),
        encode({"tenant_id": "tenant-a"}),
        encode({"tenant_id": "tenant-a", "id": 1}),
        encode({"tenant_id": "tenant-a", "id": "not-a-uuid"}),
        encode({"tenant_id": "tenant-a", "id": "00000000-0000-0000-0000-00000000000A"}),
        encode({"tenant_id": "tenant-a", "id": "00000000-0000-0000-0000-000000000000", "x": "y"}),
        encode({"tenant_id": "tenant-b", "id": "00000000-0000-0000-0000-000000000000"}),
        base64.urlsafe_b64encode(b"[" * 1500).decode(),
    ],
)
def test_garbage_cursors_are_400(client: TestClient, cursor: str) -> None:
    assert_invalid_cursor(client, cursor)


def test_tampered_cursor_is_400(client: TestClient) -> None:
    cursor = first_cursor(client)
    key = json.loads(base64.urlsafe_b64decode(cursor))

    assert_invalid_cursor(client, cursor[:-2])
    assert_invalid_cursor(client, cursor + "AA")
    assert_invalid_cursor(client, encode({**key, "tenant_id": "tenant-b"}))
    # The same key in another spelling: only the exact text the service wrote is accepted.
    assert_invalid_cursor(client, base64.urlsafe_b64encode(json.dumps(key).encode()).decode())


def test_another_tenants_cursor_is_400(
    client: TestClient, tenant_headers: Callable[[str], dict[str, str]]
) -> None:
    cursor = first_cursor(client, headers=tenant_headers(OTHER_TENANT))

    assert_invalid_cursor(client, cursor)


def test_cursor_of_another_filter_is_400(client: TestClient) -> None:
    active_cursor = first_cursor(client, status="active")
    unfiltered_cursor = first_cursor(client)

    assert_invalid_cursor(client, active_cursor, status="draft")
    assert_invalid_cursor(client, active_cursor)
    assert_invalid_cursor(client, unfiltered_cursor, status="active")


def test_a_made_up_cursor_moves_only_within_the_tenants_listing(client: TestClient) -> None:
    product_id = create(client)
    before_every_id = encode({"tenant_id": "tenant-a", "id": str(UUID(int=0))})

    response = client.get(BASE, params={"cursor": before_every_id})

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [product_id]


def test_cursor_longer_than_the_limit_is_422(client: TestClient) -> None:
    assert client.get(BASE, params={"cursor": "A" * 2049}).status_code == 422
