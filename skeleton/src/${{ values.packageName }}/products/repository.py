"""What the service needs from product storage: one implementation per backend, every
method scoped to a tenant."""

from typing import Protocol
from uuid import UUID

from .models import Product, ProductStatus


class DuplicateProductError(Exception):
    """A product with this ID already exists for the tenant."""


class StaleProductError(Exception):
    """The stored product is not the version the change was based on."""
{% if values.database == 'dynamodb' %}


class InvalidCursorError(ValueError):
    """A listing cursor that this service did not issue for this tenant and filter."""
{% endif %}


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None:
        """Store a new product; ``DuplicateProductError`` if its ID is taken."""
        ...

    async def get(self, tenant_id: str, product_id: UUID) -> Product | None:
        """The tenant's product, or None."""
        ...
{% if values.database == 'dynamodb' %}

    async def list_after(
        self, tenant_id: str, *, cursor: str | None, limit: int, status: ProductStatus | None
    ) -> tuple[list[Product], str | None]:
        """Up to ``limit`` of the tenant's products after ``cursor`` (from the start when
        None), filtered by ``status`` when given, and the cursor of the next page (None on
        the last one). ``InvalidCursorError`` for a cursor this method did not return."""
        ...
{% else %}

    async def list_page(
        self, tenant_id: str, *, offset: int, limit: int, status: ProductStatus | None
    ) -> tuple[list[Product], int]:
        """Up to ``limit`` of the tenant's products after ``offset`` in creation order, and
        their total count (both filtered by ``status`` when given)."""
        ...
{% endif %}

    async def replace(self, product: Product) -> bool:
        """Store ``product`` over the stored version ``product.version - 1``; False if the
        product does not exist, ``StaleProductError`` if another version is stored."""
        ...

    async def delete(self, tenant_id: str, product_id: UUID, version: int | None = None) -> bool:
        """Remove the tenant's product (only if ``version`` is stored, when given); False if
        it did not exist, ``StaleProductError`` if another version is stored."""
        ...
