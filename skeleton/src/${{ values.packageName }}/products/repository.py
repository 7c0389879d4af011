"""What the service needs from product storage. Implementations: ``memory`` (in process);
database-backed ones plug in behind the same protocol."""

from typing import Protocol
from uuid import UUID

from .models import Product, ProductStatus


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None:
        """Store a new product."""
        ...

    async def get(self, product_id: UUID) -> Product | None:
        """The product, or None."""
        ...

    async def list_page(
        self, *, offset: int, limit: int, status: ProductStatus | None = None
    ) -> tuple[list[Product], int]:
        """Up to ``limit`` products after ``offset`` in creation order, and the total count
        (both filtered by ``status`` when given)."""
        ...

    async def replace(self, product: Product) -> bool:
        """Store the new version of an existing product; False if it does not exist."""
        ...

    async def delete(self, product_id: UUID) -> bool:
        """Remove the product; False if it did not exist."""
        ...
